#!/usr/bin/env node
// The `entropy-relay` command. Flags mirror the ENTROPY_* variables (flags win).
import { Command, Option } from 'commander';
import { ConfigError, flagName, loadConfig, type Config } from './config.js';
import { OPTIONS } from './config/options.js';
import { serveWithWorkers, workerCount } from './cluster/index.js';
import { createLogger } from './log.js';
import { startRelay } from './server.js';
import { VERSION } from './version.js';
import { registerClientCommands } from './client/cli.js';
import { doctor } from './doctor/command.js';

function addConfigOptions(command: Command): Command {
  for (const option of OPTIONS) {
    const flag = flagName(option);
    const help =
      `${option.describe} [${option.env}]` +
      (option.shown !== '' ? ` (default: ${option.shown})` : '');
    if (option.toggle) {
      command.addOption(new Option(`--${flag}`, help));
      command.addOption(new Option(`--no-${flag}`).hideHelp());
    } else {
      command.addOption(new Option(`--${flag} <value>`, help));
    }
  }
  return command;
}

/** Commander names options in camelCase of the flag; map them back to config keys. */
function flagsFrom(opts: Record<string, unknown>): Partial<Record<keyof Config, string | boolean>> {
  const flags: Partial<Record<keyof Config, string | boolean>> = {};
  for (const option of OPTIONS) {
    const name = flagName(option).replace(/-([a-z])/g, (_, c: string) => c.toUpperCase());
    const value = opts[name];
    if (typeof value === 'string' || typeof value === 'boolean') flags[option.key] = value;
  }
  return flags;
}

async function serve(opts: Record<string, unknown>): Promise<void> {
  let config: Config;
  let workers: number;
  try {
    config = loadConfig(process.env, flagsFrom(opts));
    workers = workerCount(config);
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`entropy-relay: configuration error: ${err.message}\n`);
      process.exit(2);
    }
    throw err;
  }
  if (workers > 1) return serveWithWorkers(config, workers);
  const logger = createLogger(config.logLevel);
  const relay = await startRelay(config, { logger }).catch((err: unknown) => {
    logger.fatal({ err }, 'failed to start');
    logger.flush();
    process.exitCode = 1;
    return undefined;
  });
  if (!relay) return;
  let stopping = false;
  // The store refused to run (logged by the relay): stop, and say so in the exit status.
  relay.ready.catch(() => {
    if (stopping) return;
    stopping = true;
    void relay.close().finally(() => {
      logger.flush();
      process.exit(1);
    });
  });
  const stop = (signal: string): void => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, 'signal received');
    relay.close().then(
      () => {
        logger.flush();
        process.exit(0);
      },
      (err: unknown) => {
        logger.error({ err }, 'shutdown failed');
        process.exit(1);
      },
    );
  };
  process.once('SIGTERM', () => stop('SIGTERM'));
  process.once('SIGINT', () => stop('SIGINT'));
}

const program = new Command('entropy-relay')
  .description(
    'Entropy Relay: zero-knowledge, stateless message relay for end-to-end encrypted messengers',
  )
  .version(VERSION);

addConfigOptions(
  program
    .command('doctor')
    .description('Check a configuration before going live: one line per check, exit 1 on a FAIL')
    .option('--expected-sessions <n>', 'Concurrent WebSocket sessions to plan for', '10000')
    .option('--json', 'One JSON object per check per line'),
).action((opts: Record<string, unknown>) => doctor(opts, flagsFrom(opts)));

const serveCommand = addConfigOptions(
  program.command('serve', { isDefault: true }).description('Run the relay (default command)'),
).action((opts: Record<string, unknown>) => serve(opts));
void serveCommand;
registerClientCommands(program);

await program.parseAsync(process.argv);
