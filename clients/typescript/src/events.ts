// Event bodies as POST /v1/events takes them (contracts/events.py of the platform). event_id and
// occurred_at are fixed when the member acts, never at send time: every retry carries the same ones.

export type EventType = "login" | "post" | "checkin" | "meditation_play";

export interface ClientEvent {
  event_id: string;
  type: EventType;
  member_id: string;
  occurred_at: string;
  payload: Record<string, unknown>;
}

export function newEvent(type: EventType, memberId: string, payload: Record<string, unknown>,
                         occurredAt: Date = new Date()): ClientEvent {
  return { event_id: crypto.randomUUID(), type, member_id: memberId, occurred_at: occurredAt.toISOString(), payload };
}

export function withoutUndefined(fields: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(fields).filter(([, value]) => value !== undefined));
}
