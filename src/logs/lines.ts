/**
 * Splits a stream's chunks into lines. A line longer than `maxLineBytes` is cut there so one
 * runaway write cannot hold unbounded memory; a partial last line waits for the next chunk.
 */
export class LineSplitter {
  private pending = '';

  constructor(private readonly onLine: (line: string) => void, private readonly maxLineBytes = 64 * 1024) {}

  push(chunk: Buffer | string): void {
    let text = this.pending + chunk.toString();
    let start = 0;
    for (let nl = text.indexOf('\n', start); nl !== -1; nl = text.indexOf('\n', start)) {
      const end = nl > start && text.charCodeAt(nl - 1) === 13 ? nl - 1 : nl;
      this.onLine(text.slice(start, end));
      start = nl + 1;
    }
    text = text.slice(start);
    while (text.length > this.maxLineBytes) {
      this.onLine(text.slice(0, this.maxLineBytes));
      text = text.slice(this.maxLineBytes);
    }
    this.pending = text;
  }

  /** Emits what is left when the stream ends. */
  end(): void {
    if (this.pending.length > 0) this.onLine(this.pending);
    this.pending = '';
  }
}
