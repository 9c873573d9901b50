/** Downloads of a stored result in every format the API has, plus "Download for Excel"
 * (CSV with a byte-order mark and formula-like cells neutralised). The browser downloads
 * them from the API directly: the rows never pass through the page. */
import { useState } from "react";
import type { RunInfo } from "../api/client";

const FORMATS: { format: string; label: string }[] = [
  { format: "csv", label: "CSV" },
  { format: "excel", label: "Download for Excel" },
  { format: "tsv", label: "TSV" },
  { format: "json", label: "JSON" },
  { format: "ndjson", label: "NDJSON" },
  { format: "parquet", label: "Parquet" },
];

export function exportUrl(runId: string, format: string): string {
  return `/api/v1/runs/${encodeURIComponent(runId)}/export?format=${format}`;
}

export function ExportMenu({ run }: { run: RunInfo }) {
  const [open, setOpen] = useState(false);
  return (
    <div className="menu" onKeyDown={(e) => e.key === "Escape" && setOpen(false)}>
      <button type="button" aria-haspopup="true" aria-expanded={open} onClick={() => setOpen(!open)}>
        Export ▾
      </button>
      {open && (
        <ul className="menu-list" role="menu">
          {FORMATS.map((f) => (
            <li key={f.format} role="none">
              <a role="menuitem" href={exportUrl(run.id, f.format)} download onClick={() => setOpen(false)}>
                {f.label}
              </a>
            </li>
          ))}
        </ul>
      )}
    </div>
  );
}
