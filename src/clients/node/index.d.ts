import type { ClientBase } from 'pg';

export type Key = [string, string, string];
export interface Event {
  eventType: string;
  payload: unknown;
  metadata?: Record<string, unknown>;
  eventId?: string;
  eventVersion?: number;
  tags?: string[];
}
/** A query over event types and tags (items combined with OR). */
export interface Query { items?: { types?: string[]; tags?: string[] }[] }
export interface Appended { eventId: string; aggregateVersion: number; globalPosition: number }
export interface StoredEvent {
  globalPosition: number; boundedContext: string; aggregateType: string; aggregateId: string;
  aggregateVersion: number; eventId: string; eventType: string; eventVersion: number;
  payload: any; metadata: Record<string, unknown>; correlationId: string | null;
  causationId: string | null; traceId: string | null; createdAt: Date; payloadBytes: Buffer | null;
  tags: string[] | null;
}
export class EsStoreError extends Error { code: string; detail?: string; hint?: string; cause: unknown }
export class WrongExpectedVersion extends EsStoreError {}
export class DuplicateEvent extends EsStoreError {}
export class StreamForgotten extends EsStoreError {}
export class CheckpointBackwards extends EsStoreError {}
export class CheckpointMoved extends EsStoreError {}
export class SnapshotAhead extends EsStoreError {}
export class SegmentNotHeld extends EsStoreError {}
export class ConditionFailed extends EsStoreError {}
export function typed(err: unknown): unknown;
export function append(client: ClientBase, key: Key, expectedVersion: number | null, events: Event[]): Promise<Appended[]>;
export function appendAggregates(client: ClientBase,
  entries: { key: Key; expectedVersion: number | null; events?: Event[] }[]):
  Promise<{ key: Key; eventId: string | null; aggregateVersion: number | null; globalPosition: number | null }[]>;
export function readAggregate(client: ClientBase, key: Key): Promise<StoredEvent[]>;
export function readQuery(client: ClientBase, query: Query, after?: number, maxCount?: number | null): Promise<{ events: StoredEvent[]; position: number }>;
export function appendIf(client: ClientBase, events: Event[], query?: Query | null, after?: number,
  key?: Key | null, expectedVersion?: number | null): Promise<Appended[]>;
export function readFeed(client: ClientBase, after: number, limit?: number): Promise<StoredEvent[]>;
export function retryCommand<T>(client: ClientBase, command: (client: ClientBase) => Promise<T>, attempts?: number): Promise<T>;
export function consume(client: ClientBase, name: string,
  handle: (client: ClientBase, events: StoredEvent[]) => Promise<void>,
  options?: { page?: number; channel?: string | null; listenClient?: ClientBase | null; poll?: number; signal?: AbortSignal | null }): Promise<number>;
export function waitForPosition(client: ClientBase, name: string, position: number, timeoutMs?: number, intervalMs?: number): Promise<boolean>;
