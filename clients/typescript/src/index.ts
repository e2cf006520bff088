// CareCircle browser client (docs/clients.md): the same behaviour as the Python client.
export { CareCircleClient, ClientError } from "./client.js";
export type { ClientOptions, FlushResult, Rejection } from "./client.js";
export { IndexedDBQueue, MemoryQueue } from "./queue.js";
export type { EventQueue } from "./queue.js";
export type { ClientEvent, EventType } from "./events.js";
