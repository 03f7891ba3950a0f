// Checking who serves the socket before anything is sent to it. Node has no API for the peer
// credentials of a Unix socket (SO_PEERCRED), so the server's uid is taken to be the owner of
// the socket file: the process that bound the path created that file.

import * as fs from 'node:fs';
import * as path from 'node:path';
import { OutriggerError } from './errors.js';

/** `origin` of a connection refused because its server is not trusted. */
export const ORIGIN_VERIFY = 'client/verify';

/**
 * On for a default socket path unless turned off, off for an explicit or `OUTRIGGER_SOCKET`
 * path unless turned on, and always on when an expected uid is given.
 */
export function shouldVerifyServer(fromDefaults: boolean, verifyServer?: boolean, expectedServerUid?: number): boolean {
  if (expectedServerUid !== undefined) return true;
  return verifyServer ?? fromDefaults;
}

/**
 * Exactly the expected uid when given. Otherwise this process's euid, root, and the owner of
 * the socket's directory when that directory sits in one others cannot write to (only then
 * could its owner alone have created it).
 */
export function trustedServerUids(socketPath: string, expectedServerUid?: number): number[] {
  if (expectedServerUid !== undefined) return [expectedServerUid];
  const trusted = new Set([process.geteuid!(), 0]);
  const dir = path.dirname(path.resolve(socketPath));
  try {
    if ((fs.statSync(path.dirname(dir)).mode & 0o002) === 0) trusted.add(fs.statSync(dir).uid);
  } catch {
    // no directory owner to trust
  }
  return [...trusted].sort((a, b) => a - b);
}

/** The error to fail the connection with, or null when the socket's owner is trusted. */
export function checkServer(socketPath: string, expectedServerUid?: number): OutriggerError | null {
  const trusted = trustedServerUids(socketPath, expectedServerUid);
  let uid: number;
  try {
    uid = fs.lstatSync(socketPath).uid;
  } catch (err) {
    return new OutriggerError({
      code: 'PERMISSION_DENIED', origin: ORIGIN_VERIFY, cause: err,
      message: `cannot verify the server of ${socketPath}: ${(err as Error).message}`,
    });
  }
  if (trusted.includes(uid)) return null;
  return new OutriggerError({
    code: 'PERMISSION_DENIED', origin: ORIGIN_VERIFY,
    message: `the server of ${socketPath} (the socket file's owner) is uid ${uid}, not one of the trusted uids ${trusted.join(', ')}`,
  });
}
