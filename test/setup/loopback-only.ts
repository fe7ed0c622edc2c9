import { Socket } from 'node:net';
import { loopbackOnlyConnect } from './loopback-guard.ts';

// `node --import ./test/setup/loopback-only.ts`: every test file's process reaches loopback only.
Socket.prototype.connect = loopbackOnlyConnect as unknown as typeof Socket.prototype.connect;
