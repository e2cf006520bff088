// CareCircleClient: track, queue (IndexedDB), send in batches of at most 500, retry whole batches with
// the same ids on 429/503/network errors honouring Retry-After, report per-index rejections, read today.

import { ClientEvent, EventType, newEvent, withoutUndefined } from "./events.js";
import { EventQueue, defaultQueue } from "./queue.js";

export const MAX_BATCH = 500;
const RETRY_STATUSES = new Set([429, 502, 503, 504]);
// Ingest refuses events of a member whose enrolment it has not read yet: kept for a later flush.
const RETRY_LATER_ERRORS = new Set(["not_enrolled"]);

export interface Rejection {
  event: ClientEvent;
  errors: { loc: (string | number)[]; msg: string; type: string }[];
}

export interface FlushResult {
  accepted: number;
  rejected: Rejection[];
  pending: number;
}

export interface ClientOptions {
  baseUrl: string;
  token: string;
  memberId?: string;
  notifierUrl?: string;
  batchSize?: number;
  /** Background flush period; 0 turns it off (flush() by hand). */
  flushIntervalMs?: number;
  maxAttempts?: number;
  maxWaitMs?: number;
  onRejected?: (rejection: Rejection) => void;
  queue?: EventQueue;
  sleep?: (ms: number) => Promise<void>;
}

export class ClientError extends Error {
  constructor(message: string, readonly status?: number) {
    super(message);
  }
}

class Retryable extends Error {
  constructor(reason: string, readonly retryAfterMs?: number) {
    super(reason);
  }
}

function tokenSubject(token: string): string {
  try {
    const part = token.split(".")[1].replace(/-/g, "+").replace(/_/g, "/");
    return String(JSON.parse(atob(part + "=".repeat((4 - (part.length % 4)) % 4))).sub);
  } catch {
    throw new Error("token is not a JWT with a subject; pass memberId");
  }
}

const realSleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

export class CareCircleClient {
  readonly queue: EventQueue;
  private readonly baseUrl: string;
  private readonly notifierUrl: string;
  private readonly memberId: string;
  private readonly batchSize: number;
  private readonly maxAttempts: number;
  private readonly maxWaitMs: number;
  private readonly sleep: (ms: number) => Promise<void>;
  private flushing: Promise<FlushResult> | null = null;
  private timer: ReturnType<typeof setInterval> | null = null;
  private readonly onOnline = () => void this.flushQuietly();

  constructor(private readonly options: ClientOptions) {
    this.baseUrl = options.baseUrl.replace(/\/$/, "");
    this.notifierUrl = (options.notifierUrl ?? options.baseUrl).replace(/\/$/, "");
    this.memberId = options.memberId ?? tokenSubject(options.token);
    this.batchSize = options.batchSize ?? MAX_BATCH;
    if (this.batchSize < 1 || this.batchSize > MAX_BATCH) throw new Error(`batchSize must be 1 to ${MAX_BATCH}`);
    this.maxAttempts = options.maxAttempts ?? 6;
    this.maxWaitMs = options.maxWaitMs ?? 60_000;
    this.sleep = options.sleep ?? realSleep;
    this.queue = options.queue ?? defaultQueue();
    const interval = options.flushIntervalMs ?? 5_000;
    if (interval > 0) this.timer = setInterval(() => void this.flushQuietly(), interval);
    // Back online: send what waited, without waiting for the next tick.
    if (typeof window !== "undefined") window.addEventListener("online", this.onOnline);
  }

  trackLogin(occurredAt?: Date): Promise<string> {
    return this.track("login", {}, occurredAt);
  }
  trackPost(channel: "community" | "chat_room" | "buddy", topic?: string, occurredAt?: Date): Promise<string> {
    return this.track("post", withoutUndefined({ channel, topic }), occurredAt);
  }
  trackCheckin(task: string, steps?: number, occurredAt?: Date): Promise<string> {
    return this.track("checkin", withoutUndefined({ task, steps }), occurredAt);
  }
  trackMeditationPlay(contentId: string, seconds: number, completed: boolean, occurredAt?: Date): Promise<string> {
    return this.track("meditation_play", { content_id: contentId, seconds, completed }, occurredAt);
  }

  private async track(type: EventType, payload: Record<string, unknown>, occurredAt?: Date): Promise<string> {
    const event = newEvent(type, this.memberId, payload, occurredAt);
    await this.queue.put(event);
    if ((await this.queue.size()) >= this.batchSize) void this.flushQuietly();
    return event.event_id;
  }

  /** Send every queued event, oldest first; one flush at a time (a batch is never in flight twice). */
  flush(): Promise<FlushResult> {
    if (!this.flushing) this.flushing = this.flushAll().finally(() => (this.flushing = null));
    return this.flushing;
  }

  private async flushQuietly(): Promise<void> {
    try {
      if (await this.queue.size()) await this.flush();
    } catch {
      // kept queued: the next tick or the next "online" tries again
    }
  }

  private async flushAll(): Promise<FlushResult> {
    const result: FlushResult = { accepted: 0, rejected: [], pending: 0 };
    const retryLater = new Set<string>();
    for (;;) {
      const batch = (await this.queue.peek(this.batchSize + retryLater.size))
        .filter((e) => !retryLater.has(e.event_id)).slice(0, this.batchSize);
      if (!batch.length) break;
      const [accepted, rejected] = await this.sendWithRetries(batch);
      result.accepted += accepted;
      for (const [index, errors] of rejected) {
        if (errors.length && RETRY_LATER_ERRORS.has(errors[0].type)) {
          retryLater.add(batch[index].event_id);
          continue;
        }
        const rejection = { event: batch[index], errors };
        result.rejected.push(rejection);
        this.options.onRejected?.(rejection);
      }
      await this.queue.remove(batch.map((e) => e.event_id).filter((id) => !retryLater.has(id)));
    }
    result.pending = await this.queue.size();
    return result;
  }

  private async sendWithRetries(batch: ClientEvent[]): Promise<[number, Map<number, Rejection["errors"]>]> {
    const body = JSON.stringify(batch); // the same bytes on every attempt: same ids, same times
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.post(body);
      } catch (error) {
        if (!(error instanceof Retryable)) throw error;
        if (attempt >= this.maxAttempts) {
          throw new ClientError(`ingest unavailable after ${attempt} attempts (${error.message}); events kept queued`);
        }
        const backoff = Math.random() * Math.min(this.maxWaitMs, 500 * 2 ** attempt);
        await this.sleep(error.retryAfterMs !== undefined ? Math.min(error.retryAfterMs, this.maxWaitMs) : backoff);
      }
    }
  }

  private async post(body: string): Promise<[number, Map<number, Rejection["errors"]>]> {
    let response: Response;
    try {
      response = await fetch(`${this.baseUrl}/v1/events`, {
        method: "POST", body,
        headers: { Authorization: `Bearer ${this.options.token}`, "Content-Type": "application/json" },
      });
    } catch (error) {
      throw new Retryable(`network: ${(error as Error).name}`);
    }
    if (RETRY_STATUSES.has(response.status)) {
      const header = response.headers.get("Retry-After");
      throw new Retryable(`HTTP ${response.status}`, header && /^\d+$/.test(header.trim()) ? Number(header) * 1000 : undefined);
    }
    const data = await response.json().catch(() => ({}));
    const byIndex = (list: { index: number; errors: Rejection["errors"] }[]) =>
      new Map(list.map((r) => [r.index, r.errors] as [number, Rejection["errors"]]));
    if (response.status === 202) return [data.accepted, byIndex(data.rejected ?? [])];
    if (response.status === 422 && Array.isArray(data.detail)) return [0, byIndex(data.detail)];
    throw new ClientError(`ingest refused the request: HTTP ${response.status}`, response.status);
  }

  /** The member's own day from the notifier: tasks in force today, which are done, reminders. */
  async today(): Promise<Record<string, unknown>> {
    const response = await fetch(`${this.notifierUrl}/v1/members/me/today`, {
      headers: { Authorization: `Bearer ${this.options.token}` },
    });
    if (response.status !== 200) throw new ClientError(`today: HTTP ${response.status}`, response.status);
    return response.json();
  }

  /** Stop the background flush; queued events stay in IndexedDB for the next page load. */
  close(): void {
    if (this.timer) clearInterval(this.timer);
    if (typeof window !== "undefined") window.removeEventListener("online", this.onOnline);
  }
}
