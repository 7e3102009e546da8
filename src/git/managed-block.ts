/**
 * The block of lines `db-hydration git install` adds to a text file it shares with the user (`.gitattributes`,
 * `.gitignore`): marked by a begin and an end line, holding only lines the file does not already have, and removed
 * by `db-hydration git uninstall` so that the file is byte for byte what it was. Pure functions of the file's text
 * (`undefined` for a file that does not exist).
 */

/** The start of the first line of the block. */
export const BLOCK_BEGIN = '# db-hydration: begin';
/** The last line of the block. */
export const BLOCK_END = '# db-hydration: end';
const BEGIN_TEXT = `${BLOCK_BEGIN} (added by \`db-hydration git install\`; \`db-hydration git uninstall\` removes it)`;
/** Begin-line flags, so that removing the block also undoes what adding it did around it. */
const CREATED_FILE = ' [created the file]';
const ADDED_NEWLINE = ' [ended the line above]';

interface Block {
  /** The text before the begin line (including its line break). */
  readonly before: string;
  /** The text after the end line's line break. */
  readonly after: string;
  readonly lines: readonly string[];
  readonly createdFile: boolean;
  readonly addedNewline: boolean;
}

/** Finds the block in a file's text. */
function parseBlock(text: string | undefined): Block | undefined {
  if (text === undefined) return undefined;
  let offset = 0;
  let begin: { start: number; line: string } | undefined;
  const lines: string[] = [];
  while (offset < text.length) {
    const nl = text.indexOf('\n', offset);
    const end = nl < 0 ? text.length : nl + 1;
    const line = text.slice(offset, nl < 0 ? text.length : nl).replace(/\r$/, '');
    if (begin === undefined) {
      if (line.startsWith(BLOCK_BEGIN)) begin = { start: offset, line };
    } else if (line === BLOCK_END) {
      return {
        before: text.slice(0, begin.start),
        after: text.slice(end),
        lines,
        createdFile: begin.line.includes(CREATED_FILE),
        addedNewline: begin.line.includes(ADDED_NEWLINE),
      };
    } else {
      lines.push(line);
    }
    offset = end;
  }
  return undefined;
}

function render(lines: readonly string[], createdFile: boolean, addedNewline: boolean): string {
  const flags = (createdFile ? CREATED_FILE : '') + (addedNewline ? ADDED_NEWLINE : '');
  return `${BEGIN_TEXT}${flags}\n${lines.map((l) => `${l}\n`).join('')}${BLOCK_END}\n`;
}

/** The lines of a text, without line breaks and surrounding blanks, for "is this line already there". */
function presentLines(text: string): Set<string> {
  return new Set(text.split('\n').map((l) => l.trim()));
}

/** The lines our block holds, when there is one. */
export function blockLines(text: string | undefined): readonly string[] | undefined {
  return parseBlock(text)?.lines;
}

/**
 * The text with the block removed, exactly as it was before {@link withBlock} added it (`undefined` when adding it
 * created the file and nothing else was written to it since).
 */
export function withoutBlock(text: string | undefined): string | undefined {
  const block = parseBlock(text);
  if (block === undefined) return text;
  const before =
    block.addedNewline && block.after === '' && block.before.endsWith('\n')
      ? block.before.slice(0, -1)
      : block.before;
  const result = before + block.after;
  return block.createdFile && result === '' ? undefined : result;
}

/**
 * The text with a block holding those of `wanted` that the text does not already hold outside the block. An existing
 * block is rewritten in place (so adding twice changes nothing); a new one is appended, ending the last line first
 * when it has no line break. No block is added when every line is already there.
 */
export function withBlock(text: string | undefined, wanted: readonly string[]): string | undefined {
  const block = parseBlock(text);
  const outside = block === undefined ? (text ?? '') : block.before + block.after;
  const present = presentLines(outside);
  const lines = wanted.filter((l, i) => !present.has(l.trim()) && wanted.indexOf(l) === i);
  if (block !== undefined) {
    if (lines.length === 0) return withoutBlock(text);
    return block.before + render(lines, block.createdFile, block.addedNewline) + block.after;
  }
  if (lines.length === 0) return text;
  const base = text ?? '';
  const addedNewline = base !== '' && !base.endsWith('\n');
  return base + (addedNewline ? '\n' : '') + render(lines, text === undefined, addedNewline);
}
