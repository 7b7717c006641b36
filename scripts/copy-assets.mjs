// Copies the Lua scripts next to the compiled Redis backend (tsc copies only .ts output).
import { cpSync, existsSync } from 'node:fs';

const from = 'src/store/redis/commands';
if (existsSync(from)) cpSync(from, 'dist/store/redis/commands', { recursive: true });
