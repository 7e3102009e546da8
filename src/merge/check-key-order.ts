/**
 * The check that every table's rows are in key order, as the archive writer lists them and as the merge driver needs
 * them. A text merge (a git host's web merge, which never runs custom drivers) can leave rows out of order, or the
 * same key twice; `db-hydration git check` reports it before the merge driver or a reader trips on it.
 */
import { ArchiveCursor } from '../archive/archive-cursor.js';
import { ArchiveFormatError } from '../errors.js';
import { keyText, rowComparator } from './key-order.js';
import { TableFactsCache } from './table-facts.js';

/**
 * Checks that the rows of every table with a known key order ascend strictly by key.
 * @throws {ArchiveFormatError} naming the file, the table and the line of the first row out of order
 */
export function checkKeyOrder(archivePath: string): void {
  const cursor = new ArchiveCursor(archivePath, { lazyRows: true });
  const facts = new TableFactsCache(archivePath);
  try {
    if (cursor.plain) return;
    const encoding = cursor.header.pragmas?.encoding ?? 'UTF-8';
    for (let table = cursor.nextTable(); table !== undefined; table = cursor.nextTable()) {
      const tableFacts = facts.of(table);
      const compare = rowComparator(tableFacts, encoding);
      if (compare === undefined) continue;
      let previous = cursor.nextRow();
      for (let row = cursor.nextRow(); row !== undefined && previous !== undefined; row = cursor.nextRow()) {
        const order = compare(previous, row);
        if (order >= 0) {
          throw new ArchiveFormatError(
            `line ${row.line}: table "${table.name}": ${order === 0 ? 'key' : 'row'} ${keyText(tableFacts, row.values)} ${order === 0 ? 'appears twice' : 'is out of key order'} (a text merge made without the db-hydration driver?)`,
            {
              file: archivePath,
              table: table.name,
              hint: 'redo the merge with the driver (`db-hydration git install`, then merge again), or fix the rows by hand and run `db-hydration git resolve`',
            },
          );
        }
        previous = row;
      }
    }
  } finally {
    cursor.close();
    facts.close();
  }
}
