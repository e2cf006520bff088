// Where events wait until ingest answered for them: IndexedDB in browsers (survives reloads, closed
// tabs and phones without signal), memory elsewhere. Events are stored with their final event_id and
// occurred_at, so a later send carries exactly what was tracked.

import type { ClientEvent } from "./events.js";

export interface EventQueue {
  put(event: ClientEvent): Promise<void>;
  /** The oldest `limit` events, left in the queue. */
  peek(limit: number): Promise<ClientEvent[]>;
  remove(eventIds: string[]): Promise<void>;
  size(): Promise<number>;
}

export class MemoryQueue implements EventQueue {
  private events = new Map<string, ClientEvent>();
  async put(event: ClientEvent): Promise<void> {
    if (!this.events.has(event.event_id)) this.events.set(event.event_id, event);
  }
  async peek(limit: number): Promise<ClientEvent[]> {
    return [...this.events.values()].slice(0, limit);
  }
  async remove(eventIds: string[]): Promise<void> {
    for (const id of eventIds) this.events.delete(id);
  }
  async size(): Promise<number> {
    return this.events.size;
  }
}

const STORE = "pending";

function done<T>(request: IDBRequest<T>): Promise<T> {
  return new Promise((resolve, reject) => {
    request.onsuccess = () => resolve(request.result);
    request.onerror = () => reject(request.error);
  });
}

function committed(tx: IDBTransaction): Promise<void> {
  return new Promise((resolve, reject) => {
    tx.oncomplete = () => resolve();
    tx.onerror = () => reject(tx.error);
    tx.onabort = () => reject(tx.error);
  });
}

/** FIFO by an auto-increment key; event_id is unique, so a re-put of the same event is stored once. */
export class IndexedDBQueue implements EventQueue {
  private db: Promise<IDBDatabase>;

  constructor(name = "carecircle-events") {
    const open = indexedDB.open(name, 1);
    open.onupgradeneeded = () => {
      const store = open.result.createObjectStore(STORE, { keyPath: "seq", autoIncrement: true });
      store.createIndex("event_id", "event.event_id", { unique: true });
    };
    this.db = done(open);
  }

  // Requests are chained in callbacks, never across an `await`: a transaction whose callback
  // returned with nothing pending commits, and a later request on it would fail.
  async put(event: ClientEvent): Promise<void> {
    const tx = (await this.db).transaction(STORE, "readwrite");
    const store = tx.objectStore(STORE);
    const known = store.index("event_id").count(event.event_id);
    known.onsuccess = () => {
      if (!known.result) store.add({ event });
    };
    await committed(tx);
  }

  async peek(limit: number): Promise<ClientEvent[]> {
    const tx = (await this.db).transaction(STORE, "readonly");
    const rows = await done(tx.objectStore(STORE).getAll(undefined, limit));
    return rows.map((row: { event: ClientEvent }) => row.event);
  }

  async remove(eventIds: string[]): Promise<void> {
    const tx = (await this.db).transaction(STORE, "readwrite");
    const index = tx.objectStore(STORE).index("event_id");
    for (const id of eventIds) {
      const cursor = index.openCursor(IDBKeyRange.only(id));
      cursor.onsuccess = () => cursor.result?.delete();
    }
    await committed(tx);
  }

  async size(): Promise<number> {
    const tx = (await this.db).transaction(STORE, "readonly");
    return done(tx.objectStore(STORE).count());
  }
}

export function defaultQueue(): EventQueue {
  return typeof indexedDB !== "undefined" ? new IndexedDBQueue() : new MemoryQueue();
}
