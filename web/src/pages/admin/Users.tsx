/** Administrators: users (add, disable, change role, reset password). */
import { useQuery, useQueryClient } from "@tanstack/react-query";
import { useState } from "react";
import { describeError, fetchJson, type Schemas } from "../../api/client";
import { formatAgo } from "../../app/data";
import { ErrorText } from "../../app/ErrorText";

export default function Users() {
  const client = useQueryClient();
  const users = useQuery({ queryKey: ["users"], queryFn: () => fetchJson<Schemas["Page_UserInfo_"]>("/api/v1/users?limit=1000").then((p) => p.items) });
  const [username, setUsername] = useState("");
  const [role, setRole] = useState("analyst");
  const [password, setPassword] = useState("");
  const [message, setMessage] = useState<{ text: string; error: boolean } | null>(null);
  const act = async (work: () => Promise<unknown>, done: string) => {
    setMessage(null);
    try {
      await work();
      setMessage({ text: done, error: false });
      await client.invalidateQueries({ queryKey: ["users"] });
    } catch (error) {
      setMessage({ text: describeError(error).message, error: true });
    }
  };
  const path = (name: string) => `/api/v1/users/${encodeURIComponent(name)}`;
  return (
    <div className="page">
      <h1>Users</h1>
      <form
        className="inline-form"
        aria-label="Add a user"
        onSubmit={(e) => {
          e.preventDefault();
          void act(() => fetchJson("/api/v1/users", { method: "POST", body: JSON.stringify({ username, role, password }) }), `Added ${username}.`).then(() => {
            setUsername("");
            setPassword("");
          });
        }}
      >
        <input aria-label="User name" placeholder="user name" value={username} onChange={(e) => setUsername(e.target.value)} required />
        <select aria-label="Role" value={role} onChange={(e) => setRole(e.target.value)}>
          <option>admin</option>
          <option>analyst</option>
          <option>viewer</option>
        </select>
        <input aria-label="Password" type="password" autoComplete="new-password" placeholder="password" value={password} onChange={(e) => setPassword(e.target.value)} required />
        <button type="submit" className="primary">Add user</button>
      </form>
      {message && <p className={message.error ? "error-text" : "notice"} role={message.error ? "alert" : "status"}>{message.text}</p>}
      {users.isPending ? (
        <p className="loading-block" role="status">Loading…</p>
      ) : users.isError ? (
        <ErrorText error={users.error} />
      ) : (
        <table className="list">
          <thead>
            <tr>
              <th scope="col">User</th>
              <th scope="col">Role</th>
              <th scope="col">State</th>
              <th scope="col">Last login</th>
              <th scope="col">Actions</th>
            </tr>
          </thead>
          <tbody>
            {users.data.map((u) => (
              <tr key={u.id}>
                <td>{u.username}</td>
                <td>
                  <select aria-label={`Role of ${u.username}`} value={u.role} onChange={(e) => void act(() => fetchJson(path(u.username), { method: "PATCH", body: JSON.stringify({ role: e.target.value }) }), `${u.username} is now ${e.target.value}.`)}>
                    <option>admin</option>
                    <option>analyst</option>
                    <option>viewer</option>
                  </select>
                </td>
                <td>{u.disabled ? "disabled" : "active"}</td>
                <td>{formatAgo(u.last_login_at)}</td>
                <td className="actions">
                  <button type="button" onClick={() => void act(() => fetchJson(path(u.username), { method: "PATCH", body: JSON.stringify({ disabled: !u.disabled }) }), `${u.username} ${u.disabled ? "enabled" : "disabled"}.`)}>
                    {u.disabled ? "Enable" : "Disable"}
                  </button>
                  <button type="button" onClick={() => {
                    const next = prompt(`New password for ${u.username}`);
                    if (next) void act(() => fetchJson(`${path(u.username)}/password`, { method: "POST", body: JSON.stringify({ password: next }) }), `Password of ${u.username} reset.`);
                  }}>
                    Reset password
                  </button>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </div>
  );
}
