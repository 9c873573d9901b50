/** Administrators: groups and their members. */
import { useQuery, useQueryClient } from "@tanstack/react-query";
import { useState } from "react";
import { describeError, fetchJson, type Schemas } from "../../api/client";
import { ErrorText } from "../../app/ErrorText";

export default function Groups() {
  const client = useQueryClient();
  const groups = useQuery({ queryKey: ["groups"], queryFn: () => fetchJson<Schemas["Page_GroupInfo_"]>("/api/v1/groups?limit=1000").then((p) => p.items) });
  const [name, setName] = useState("");
  const [member, setMember] = useState<Record<string, string>>({});
  const [error, setError] = useState<string | null>(null);
  const act = async (work: () => Promise<unknown>) => {
    setError(null);
    try {
      await work();
      await client.invalidateQueries({ queryKey: ["groups"] });
    } catch (reason) {
      setError(describeError(reason).message);
    }
  };
  const path = (group: string) => `/api/v1/groups/${encodeURIComponent(group)}`;
  return (
    <div className="page">
      <h1>Groups</h1>
      <form className="inline-form" aria-label="Add a group" onSubmit={(e) => (e.preventDefault(), void act(() => fetchJson("/api/v1/groups", { method: "POST", body: JSON.stringify({ name }) })).then(() => setName("")))}>
        <input aria-label="Group name" placeholder="group name" value={name} onChange={(e) => setName(e.target.value)} required />
        <button type="submit" className="primary">Add group</button>
      </form>
      {error && <p className="error-text" role="alert">{error}</p>}
      {groups.isPending ? (
        <p className="loading-block" role="status">Loading…</p>
      ) : groups.isError ? (
        <ErrorText error={groups.error} />
      ) : groups.data.length === 0 ? (
        <p className="empty">No groups yet.</p>
      ) : (
        <ul className="cards">
          {groups.data.map((g) => (
            <li key={g.id} className="card">
              <div className="card-head">
                <h2>{g.name}</h2>
                <button type="button" className="danger" onClick={() => confirm(`Delete the group ${g.name} and its grants?`) && void act(() => fetchJson(path(g.name), { method: "DELETE" }))}>
                  Delete
                </button>
              </div>
              <ul className="members">
                {g.members.map((m) => (
                  <li key={m}>
                    {m}{" "}
                    <button type="button" className="link" onClick={() => void act(() => fetchJson(`${path(g.name)}/members/${encodeURIComponent(m)}`, { method: "DELETE" }))}>
                      remove
                    </button>
                  </li>
                ))}
              </ul>
              <form className="inline-form" onSubmit={(e) => (e.preventDefault(), void act(() => fetchJson(`${path(g.name)}/members/${encodeURIComponent(member[g.name] ?? "")}`, { method: "PUT" })))}>
                <input aria-label={`Add a member to ${g.name}`} placeholder="user name" value={member[g.name] ?? ""} onChange={(e) => setMember({ ...member, [g.name]: e.target.value })} required />
                <button type="submit">Add member</button>
              </form>
            </li>
          ))}
        </ul>
      )}
    </div>
  );
}
