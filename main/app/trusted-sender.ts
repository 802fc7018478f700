/**
 * Only our own windows may call the agent (GitHub Desktop: app/src/main-process/trusted-ipc-sender.ts):
 * the sender's webContents must be one we created, and the calling frame must be its main frame
 * showing our renderer — not an iframe, not a page it navigated to.
 */
export interface SenderLike {
  readonly sender: { readonly id: number; readonly mainFrame?: unknown };
  readonly senderFrame: { readonly url: string } | null;
}

export class TrustedSenders {
  readonly #ids = new Set<number>();
  readonly #rendererUrl: URL;

  /** `rendererUrl`: the page our windows load (its path, without hash or query, is what is trusted). */
  constructor(rendererUrl: string) {
    this.#rendererUrl = new URL(rendererUrl);
  }

  add(webContentsId: number): void {
    this.#ids.add(webContentsId);
  }

  remove(webContentsId: number): void {
    this.#ids.delete(webContentsId);
  }

  isTrusted(event: SenderLike): boolean {
    if (!this.#ids.has(event.sender.id)) return false;
    const frame = event.senderFrame;
    if (!frame || (event.sender.mainFrame !== undefined && frame !== event.sender.mainFrame)) return false;
    return this.isOurPage(frame.url);
  }

  isOurPage(raw: string): boolean {
    let url: URL;
    try {
      url = new URL(raw);
    } catch {
      return false;
    }
    return url.protocol === this.#rendererUrl.protocol && url.host === this.#rendererUrl.host && url.pathname === this.#rendererUrl.pathname;
  }
}
