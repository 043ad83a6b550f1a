/**
 * Up to `maxBytes` of a response body, decoded as UTF-8 as it arrives; undefined once the body holds
 * more (the rest is not read: the stream is cancelled). What reading the stream throws (a connection
 * that breaks off) is thrown. The stream is released either way, so the caller may still cancel it.
 * For answers of servers that are not trusted to send a bounded body: registries, blob endpoints.
 */
export async function readTextAtMost(
  body: ReadableStream<Uint8Array>,
  maxBytes: number,
): Promise<string | undefined> {
  const reader = body.getReader();
  const decoder = new TextDecoder();
  let text = '';
  let bytes = 0;
  try {
    for (;;) {
      const chunk = await reader.read();
      if (chunk.done) return text + decoder.decode();
      bytes += chunk.value.byteLength;
      if (bytes > maxBytes) {
        await reader.cancel().catch(() => {});
        return undefined;
      }
      text += decoder.decode(chunk.value, { stream: true });
    }
  } finally {
    reader.releaseLock();
  }
}
