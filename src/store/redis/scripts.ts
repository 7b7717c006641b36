// The Lua scripts of commands/, loaded once and defined on each client (EVALSHA, falling back
// to EVAL). A file is named `<name>-<number of KEYS>.lua`; keys are always passed as KEYS, never
// built inside a script, so every script works on a Redis Cluster. A line `-- @include <name>`
// is replaced by the shared fragment commands/includes/<name>.lua.
import { readFileSync } from 'node:fs';
import type { RedisClient } from './connection.js';

const KEY_COUNTS = {
  sharedSecret: 1,
  takeTokens: 1,
  takeRecipientTokens: 2,
  putBundle: 3,
  addToPool: 1,
  fetchBundle: 2,
  prekeyCount: 2,
  firstSeen: 2,
  randomIdentities: 1,
  claimNickname: 1,
  setNicknameOf: 1,
  releaseNickname: 1,
  addSessionToken: 1,
  hasSessionToken: 1,
  enqueue: 3,
  queued: 1,
  removeQueued: 2,
  burnIdentity: 10,
} as const;

export type ScriptName = keyof typeof KEY_COUNTS;

const read = (file: string): string =>
  readFileSync(new URL(`./commands/${file}.lua`, import.meta.url), 'utf8');

const SOURCES = Object.entries(KEY_COUNTS).map(([name, keys]) => ({
  name,
  numberOfKeys: keys,
  lua: read(`${name}-${keys}`).replace(/^-- @include (\w+)$/gm, (_, include: string) =>
    read(`includes/${include}`).trimEnd(),
  ),
}));

export function defineScripts(client: RedisClient): void {
  for (const { name, numberOfKeys, lua } of SOURCES)
    client.defineCommand(name, { numberOfKeys, lua });
}

type ScriptCall = (...args: (string | number)[]) => Promise<unknown>;

export async function runScript<T>(
  client: RedisClient,
  name: ScriptName,
  keys: string[],
  args: (string | number)[] = [],
): Promise<T> {
  if (keys.length !== KEY_COUNTS[name]) {
    throw new Error(`Script ${name} takes ${KEY_COUNTS[name]} keys, got ${keys.length}`);
  }
  const call = (client as unknown as Record<ScriptName, ScriptCall>)[name];
  return (await call.call(client, ...keys, ...args)) as T;
}
