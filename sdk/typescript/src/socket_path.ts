// Which socket the client connects to: the explicit option, else OUTRIGGER_SOCKET, else the
// first default candidate that exists. The candidates avoid bare /tmp, where any user could
// bind the path first and receive every prompt.

import * as fs from 'node:fs';
import * as path from 'node:path';

export const SOCKET_ENV = 'OUTRIGGER_SOCKET';
const SOCKET_NAME = 'outrigger.sock';

/**
 * The default socket paths, most preferred first: `$XDG_RUNTIME_DIR/outrigger/outrigger.sock`
 * (only when `XDG_RUNTIME_DIR` is an absolute path), `/run/outrigger/outrigger.sock`, then
 * `/tmp/outrigger-<euid>/outrigger.sock`.
 */
export function defaultSocketCandidates(): string[] {
  const candidates: string[] = [];
  const runtimeDir = process.env['XDG_RUNTIME_DIR'];
  if (runtimeDir && path.isAbsolute(runtimeDir)) {
    candidates.push(path.join(runtimeDir, 'outrigger', SOCKET_NAME));
  }
  candidates.push(path.join('/run/outrigger', SOCKET_NAME));
  candidates.push(path.join(`/tmp/outrigger-${process.geteuid!()}`, SOCKET_NAME));
  return candidates;
}

function isSocket(candidate: string): boolean {
  try {
    return fs.lstatSync(candidate).isSocket();
  } catch {
    return false;
  }
}

/** The first candidate that is a socket, else the first one (so a connection error names it). */
export function firstSocket(candidates: readonly string[]): string {
  return candidates.find(isSocket) ?? candidates[0]!;
}

export interface SocketChoice {
  path: string;
  /** The path came from the default candidates (neither the option nor the environment). */
  fromDefaults: boolean;
}

export function chooseSocket(explicit?: string): SocketChoice {
  if (explicit) return { path: explicit, fromDefaults: false };
  const fromEnv = process.env[SOCKET_ENV];
  if (fromEnv) return { path: fromEnv, fromDefaults: false };
  return { path: firstSocket(defaultSocketCandidates()), fromDefaults: true };
}

/**
 * The socket path: the explicit value, else `OUTRIGGER_SOCKET` when not empty, else the first
 * of {@link defaultSocketCandidates} that exists and is a socket (the first one when none is).
 */
export function resolveSocketPath(explicit?: string): string {
  return chooseSocket(explicit).path;
}
