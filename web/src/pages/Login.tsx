/** The login page; after a session expired, back to where the user was. */
import { useEffect, useRef, useState } from "react";
import { describeError } from "../api/client";
import { navigate } from "../app/router";
import { takeReturnTo, useSession } from "../app/session";

export function Login({ expired }: { expired: boolean }) {
  const { signIn } = useSession();
  const [username, setUsername] = useState("");
  const [password, setPassword] = useState("");
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const first = useRef<HTMLInputElement>(null);
  useEffect(() => first.current?.focus(), []);

  return (
    <main className="login-page">
      <form
        className="login"
        aria-label="Sign in"
        onSubmit={async (event) => {
          event.preventDefault();
          setBusy(true);
          setError(null);
          try {
            await signIn(username, password);
            const to = takeReturnTo();
            if (to) navigate(to, { replace: true });
          } catch (reason) {
            setError(describeError(reason).message);
          } finally {
            setBusy(false);
          }
        }}
      >
        <h1>
          <img src="/favicon.svg" alt="" width={28} height={28} /> querydeck
        </h1>
        {expired && <p className="notice" role="status">Your session ended. Sign in again to go on where you were.</p>}
        <label>
          User name
          <input ref={first} name="username" autoComplete="username" value={username} onChange={(e) => setUsername(e.target.value)} required />
        </label>
        <label>
          Password
          <input name="password" type="password" autoComplete="current-password" value={password} onChange={(e) => setPassword(e.target.value)} required />
        </label>
        {error && <p className="error-text" role="alert">{error}</p>}
        <button type="submit" className="primary" disabled={busy}>
          {busy ? "Signing in…" : "Sign in"}
        </button>
      </form>
    </main>
  );
}
