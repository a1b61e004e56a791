/**
 * The items of a comma-separated list as users type it in a flag, an environment variable or a
 * file: blanks around items and empty items (a trailing comma, ",,") are dropped.
 */
export function listItems(text: string): string[] {
  return text
    .split(",")
    .map((s) => s.trim())
    .filter((s) => s !== "");
}
