/**
 * The value codec: the one place that knows how a SQLite value becomes JSON text and back.
 *
 * Plain JSON is used wherever it is exact, so archives diff well:
 * - NULL → `null`, TEXT → a JSON string;
 * - INTEGER within ±(2^53 − 1) → a JSON integer;
 * - REAL with a fractional part → a JSON number (JavaScript's shortest round-trip form, so every bit is kept).
 *
 * Everything JSON cannot carry exactly gets a one-key tagged object. Tags sit in value position, so no column
 * name (`$blob`, `__proto__`, …) can collide with them:
 * - `{"$int": "9223372036854775807"}` INTEGER outside ±(2^53 − 1);
 * - `{"$real": "1"}` integral REAL where the column's affinity would otherwise make it an INTEGER, and
 *   `-0`, `Infinity`, `-Infinity`;
 * - `{"$blob": "<base64>"}` BLOB (the empty blob is `{"$blob": ""}`);
 * - `{"$text": "<base64>"}` TEXT whose bytes are not valid in the database's text encoding, kept byte for byte.
 *
 * Decoding: a plain integral JSON number is an INTEGER (bound as a BigInt: better-sqlite3 binds every JS number as
 * a REAL), a plain fractional number a REAL. See docs/archive-format.md.
 */
import { ArchiveValueError } from '../errors.js';

/** A value as better-sqlite3 returns it with `safeIntegers(true)`. */
export type SqliteValue = null | bigint | number | string | Uint8Array;

/** TEXT whose raw bytes must be written as they are (`CAST(? AS TEXT)` on insert). */
export class TextBytes {
  constructor(readonly bytes: Buffer) {}
}

/** A decoded value ready to bind, or {@link TextBytes}. */
export type DecodedValue = null | bigint | number | string | Buffer | TextBytes;

const MAX_SAFE = 9007199254740991n;
const MIN_SAFE = -9007199254740991n;

/** The tag keys a tagged value may carry. */
export const VALUE_TAGS = ['$int', '$real', '$blob', '$text'] as const;

/**
 * Encodes one value read from SQLite as JSON text.
 * @param value the value as read with `safeIntegers(true)`
 * @param realAffinity whether the column has REAL affinity (then an integral REAL may be written plain, because
 *   inserting the integer back into that column makes it a REAL again)
 */
export function encodeValue(value: SqliteValue, realAffinity: boolean): string {
  switch (typeof value) {
    case 'string':
      return JSON.stringify(value);
    case 'bigint':
      return value >= MIN_SAFE && value <= MAX_SAFE ? value.toString() : `{"$int":"${value.toString()}"}`;
    case 'number':
      return encodeReal(value, realAffinity);
    case 'object':
      if (value === null) return 'null';
      return `{"$blob":"${Buffer.from(value.buffer, value.byteOffset, value.byteLength).toString('base64')}"}`;
    default:
      throw new TypeError(`cannot encode a value of type ${typeof value}`);
  }
}

/** Encodes a REAL. */
export function encodeReal(value: number, realAffinity: boolean): string {
  if (Number.isFinite(value) && !Object.is(value, -0)) {
    // JSON.stringify writes a finite number exactly as String() does (ECMAScript Number::toString), but String() also
    // files each result in V8's number-string cache, which keeps millions of short strings alive into the old
    // generation: measured +26 MiB peak RSS and slower when exporting REAL columns.
    if (!Number.isInteger(value) || (realAffinity && Number.isSafeInteger(value)))
      return JSON.stringify(value);
  }
  return `{"$real":"${Object.is(value, -0) ? '-0' : String(value)}"}`;
}

/** Encodes TEXT given as its raw bytes in the database's text encoding. */
export function encodeTextBytes(bytes: Uint8Array): string {
  return `{"$text":"${Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('base64')}"}`;
}

const REAL_TEXT = /^-?(?:Infinity|(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?)$/;
const INT_TEXT = /^-?(?:0|[1-9]\d{0,18})$/;
const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;

/** Options for {@link decodeValue}. */
export interface DecodeOptions {
  /**
   * Accept what a plain archive (the basic `{"database", "tables"}` shape) may hold: booleans become 1/0, objects and arrays that are not
   * tags are stored as their JSON text. Off for db-hydration's own archives, where such values are errors.
   */
  readonly lenient?: boolean;
}

/**
 * Decodes one JSON value (as produced by `JSON.parse`) from an archive into a value to bind.
 * @throws {ArchiveValueError} when the value is not an exact encoding of a SQLite value
 */
export function decodeValue(json: unknown, options: DecodeOptions = {}): DecodedValue {
  switch (typeof json) {
    case 'string':
      return json;
    case 'number':
      if (Number.isInteger(json)) {
        if (!Number.isSafeInteger(json)) {
          throw new ArchiveValueError(
            `the number ${json} is beyond 2^53 and cannot be carried exactly by JSON; write integers as {"$int": "<digits>"} and reals as {"$real": "<number>"}`,
          );
        }
        return BigInt(json);
      }
      // JSON.parse turns a number too large for a double (1e400) into Infinity: not what the archive says.
      if (!Number.isFinite(json)) {
        throw new ArchiveValueError(
          'a number is outside the range of a double and cannot be carried exactly by JSON; write it as {"$real": "<number>"}',
        );
      }
      return json;
    case 'object':
      if (json === null) return null;
      if (!Array.isArray(json)) {
        const tagged = decodeTagged(json as Record<string, unknown>);
        if (tagged !== undefined) return tagged;
      }
      if (options.lenient === true) return jsonText(json);
      throw new ArchiveValueError(
        `expected a value or a tagged value (${VALUE_TAGS.join(', ')}), found ${preview(json)}`,
      );
    case 'boolean':
      if (options.lenient === true) return json ? 1n : 0n;
      throw new ArchiveValueError(`booleans are not SQLite values: found ${String(json)}`);
    default:
      throw new ArchiveValueError(`unexpected value ${preview(json)}`);
  }
}

/** A plain archive's object or array value, stored as its JSON text. */
function jsonText(json: object): string {
  try {
    return JSON.stringify(json);
  } catch (error) {
    // JSON.parse reads nesting far deeper than JSON.stringify can write back (it recurses): a RangeError.
    if (error instanceof RangeError) {
      throw new ArchiveValueError('a value is nested too deeply to be stored as JSON text');
    }
    throw error;
  }
}

function decodeTagged(obj: Record<string, unknown>): DecodedValue | undefined {
  const keys = Object.keys(obj);
  if (keys.length !== 1) return undefined;
  const tag = keys[0];
  const payload = obj[tag as string];
  switch (tag) {
    case '$int': {
      if (typeof payload !== 'string' || !INT_TEXT.test(payload)) throw badTag(tag, payload);
      const value = BigInt(payload);
      if (value < INT64_MIN || value > INT64_MAX)
        throw badTag(tag, payload, 'outside the signed 64-bit range');
      return value;
    }
    case '$real': {
      if (typeof payload !== 'string' || !REAL_TEXT.test(payload)) throw badTag(tag, payload);
      return Number(payload);
    }
    case '$blob':
      return decodeBase64(tag, payload);
    case '$text':
      return new TextBytes(decodeBase64(tag, payload));
    default:
      return undefined;
  }
}

/**
 * Decodes canonical base64 (standard alphabet, padded, zero trailing bits: what the encoder writes). Node's decoder
 * skips what it does not understand, so the bytes are encoded again and must give back the very text; that is
 * stricter than a pattern and, measured, faster.
 */
function decodeBase64(tag: string, payload: unknown): Buffer {
  if (typeof payload !== 'string') throw badTag(tag, payload, 'not base64');
  const bytes = Buffer.from(payload, 'base64');
  if (bytes.toString('base64') !== payload) throw badTag(tag, payload, 'not canonical base64');
  return bytes;
}

function badTag(tag: string, payload: unknown, why = 'malformed'): ArchiveValueError {
  return new ArchiveValueError(`tagged value {"${tag}": ${preview(payload)}} is ${why}`);
}

function preview(value: unknown): string {
  let text: string | undefined;
  try {
    const json: unknown = JSON.stringify(value);
    text = typeof json === 'string' ? json : undefined;
  } catch {
    text = undefined;
  }
  // String() of a deeply nested array recurses without limit: only primitives are rendered that way.
  text ??=
    typeof value === 'object' && value !== null ? (Array.isArray(value) ? '[...]' : '{...}') : String(value);
  return text.length > 60 ? `${text.slice(0, 57)}...` : text;
}
