/** Save the editor's SQL as a saved query (name, description, tags, favourite, shared). */
import { useQueryClient } from "@tanstack/react-query";
import { useEffect, useRef, useState } from "react";
import { describeError, fetchJson } from "../api/client";

type Props = { sql: string; connection: string | null; defaultName: string; onClose: () => void; onSaved: (name: string) => void; chart?: unknown };

export function SaveDialog({ sql, connection, defaultName, onClose, onSaved }: Props) {
  const queries = useQueryClient();
  const [name, setName] = useState(defaultName);
  const [description, setDescription] = useState("");
  const [tags, setTags] = useState("");
  const [favourite, setFavourite] = useState(false);
  const [shared, setShared] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const first = useRef<HTMLInputElement>(null);
  useEffect(() => first.current?.focus(), []);

  const save = async () => {
    setError(null);
    try {
      await fetchJson("/api/v1/saved-queries", {
        method: "POST",
        body: JSON.stringify({ name, sql, connection, description, tags: tags.split(",").map((t) => t.trim()).filter(Boolean), favourite, shared }),
      });
      await queries.invalidateQueries({ queryKey: ["saved"] });
      onSaved(name);
      onClose();
    } catch (reason) {
      setError(describeError(reason).message);
    }
  };

  return (
    <div className="dialog-backdrop" onClick={onClose}>
      <form
        className="dialog"
        role="dialog"
        aria-modal="true"
        aria-label="Save query"
        onClick={(e) => e.stopPropagation()}
        onKeyDown={(e) => e.key === "Escape" && onClose()}
        onSubmit={(e) => {
          e.preventDefault();
          void save();
        }}
      >
        <h2>Save query</h2>
        <label>
          Name <input ref={first} required value={name} onChange={(e) => setName(e.target.value)} maxLength={200} />
        </label>
        <label>
          Description <textarea value={description} onChange={(e) => setDescription(e.target.value)} rows={3} />
        </label>
        <label>
          Tags (comma-separated) <input value={tags} onChange={(e) => setTags(e.target.value)} />
        </label>
        <label className="check">
          <input type="checkbox" checked={favourite} onChange={(e) => setFavourite(e.target.checked)} /> Favourite
        </label>
        <label className="check">
          <input type="checkbox" checked={shared} disabled={!connection} onChange={(e) => setShared(e.target.checked)} /> Share with everyone who may query {connection ?? "its connection"}
        </label>
        {error && <p className="error-text" role="alert">{error}</p>}
        <div className="dialog-actions">
          <button type="button" onClick={onClose}>Cancel</button>
          <button type="submit" className="primary">Save</button>
        </div>
      </form>
    </div>
  );
}
