/** An error as people read it: its message, and the request id to quote to an
 * administrator (the server's logs carry it). */
import { describeError } from "../api/client";

export function ErrorText({ error, prefix }: { error: unknown; prefix?: string }) {
  const { message, requestId } = describeError(error);
  return (
    <p className="error-text" role="alert">
      {prefix ? `${prefix}: ` : ""}
      {message}
      {requestId ? <span className="muted"> (request id {requestId})</span> : null}
    </p>
  );
}
