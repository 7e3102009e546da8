/** Progress of long work, reported through a callback the caller controls; the library never prints. */
export interface ProgressEvent {
  readonly phase: 'dehydrate' | 'hydrate';
  readonly database: string;
  readonly table: string;
  readonly rowsDone: number;
  readonly rowsTotal: number;
}

/** Receives {@link ProgressEvent}s. Called synchronously; keep it cheap. */
export type ProgressListener = (event: ProgressEvent) => void;
