/** Words printed for a person to paste back into a POSIX shell (bash, zsh, sh). Pure. */

/** Characters a shell word may hold unquoted and mean itself. */
const SAFE = /^[A-Za-z0-9_./:=+,@%-]+$/;

/** `word` as the shell reads it back unchanged: itself when safe, else single-quoted. Pure. */
export function shellQuote(word: string): string {
  if (SAFE.test(word)) return word;
  return `'${word.replaceAll("'", "'\\''")}'`;
}
