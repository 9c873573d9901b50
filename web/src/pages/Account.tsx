/** One's own account: change the password (the other sessions end). */
import { useState } from "react";
import { describeError, fetchJson } from "../api/client";
import { useUser } from "../app/session";

export default function Account() {
  const user = useUser();
  const [current, setCurrent] = useState("");
  const [next, setNext] = useState("");
  const [message, setMessage] = useState<{ text: string; error: boolean } | null>(null);
  return (
    <div className="page narrow">
      <h1>Account</h1>
      <p>
        Signed in as <strong>{user.username}</strong> ({user.role}).
      </p>
      <form
        className="form"
        aria-label="Change password"
        onSubmit={async (e) => {
          e.preventDefault();
          try {
            await fetchJson("/api/v1/auth/password", { method: "POST", body: JSON.stringify({ current_password: current, new_password: next }) });
            setCurrent("");
            setNext("");
            setMessage({ text: "Password changed; your other sessions have ended.", error: false });
          } catch (error) {
            const { message, requestId } = describeError(error);
            setMessage({ text: requestId ? `${message} (request id ${requestId})` : message, error: true });
          }
        }}
      >
        <h2>Change password</h2>
        <label>
          Current password <input type="password" autoComplete="current-password" value={current} onChange={(e) => setCurrent(e.target.value)} required />
        </label>
        <label>
          New password <input type="password" autoComplete="new-password" value={next} onChange={(e) => setNext(e.target.value)} required minLength={10} />
        </label>
        {message && <p className={message.error ? "error-text" : "notice"} role={message.error ? "alert" : "status"}>{message.text}</p>}
        <button type="submit" className="primary">Change password</button>
      </form>
    </div>
  );
}
