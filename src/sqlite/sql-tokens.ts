/**
 * A tokenizer for SQL text, as far as db-hydration needs one: it tells string literals, quoted names, comments, bare
 * words and punctuation apart the way SQLite's tokenizer does (https://sqlite.org/lang_keywords.html), so that a check
 * never mistakes the inside of a literal or a comment for SQL.
 */

/** One token; the texts of all tokens, joined, give back the statement. */
export interface SqlToken {
  /**
   * `string`: '…'; `quoted`: "…", `…` or […] (a name, or for "…" possibly a legacy string); `comment`: -- or /* *\/;
   * `word`: a bare keyword or name; `space`; `punct`: any other single character.
   */
  readonly kind: 'string' | 'quoted' | 'comment' | 'word' | 'space' | 'punct';
  readonly text: string;
}

const WORD = /[\p{L}\p{N}_$]/u;
const SPACE = /\s/;

/** The tokens of `sql`, in order. An unterminated literal or comment runs to the end. */
export function* sqlTokens(sql: string): Generator<SqlToken, void, undefined> {
  const n = sql.length;
  let i = 0;
  while (i < n) {
    const start = i;
    const c = sql[i] as string;
    let kind: SqlToken['kind'];
    if (c === "'" || c === '"' || c === '`' || c === '[') {
      const close = c === '[' ? ']' : c;
      i++;
      while (i < n) {
        if (sql[i] === close) {
          // A doubled quote stands for one quote inside; brackets have no escape.
          if (close !== ']' && sql[i + 1] === close) {
            i += 2;
            continue;
          }
          i++;
          break;
        }
        i++;
      }
      kind = c === "'" ? 'string' : 'quoted';
    } else if (c === '-' && sql[i + 1] === '-') {
      const end = sql.indexOf('\n', i);
      i = end < 0 ? n : end + 1;
      kind = 'comment';
    } else if (c === '/' && sql[i + 1] === '*') {
      const end = sql.indexOf('*/', i + 2);
      i = end < 0 ? n : end + 2;
      kind = 'comment';
    } else if (WORD.test(c)) {
      i++;
      while (i < n && WORD.test(sql[i] as string)) i++;
      kind = 'word';
    } else if (SPACE.test(c)) {
      i++;
      while (i < n && SPACE.test(sql[i] as string)) i++;
      kind = 'space';
    } else {
      i++;
      kind = 'punct';
    }
    yield { kind, text: sql.slice(start, i) };
  }
}
