/** "Export all": run the statement again as an export run (the larger export row cap),
 * follow it, then offer its downloads. The grid's run stays as it was. */
import { useState } from "react";
import { describeError, type RunInfo } from "../api/client";
import { exportUrl } from "./ExportMenu";
import { follow, startRun } from "./run";

export function ExportAll({ run }: { run: RunInfo }) {
  const [state, setState] = useState<{ status: "idle" | "running" | "done" | "error"; run?: RunInfo; message?: string }>({ status: "idle" });
  const start = async () => {
    if (!run.connection) return;
    setState({ status: "running" });
    try {
      let view = await startRun(run.connection, run.sql, { exportAll: true, waitMs: 2000 });
      if (view.run.status !== "succeeded") view = await follow(view.run.id, (r) => setState({ status: "running", run: r }), { stopped: false });
      setState({ status: "done", run: view.run });
    } catch (error) {
      setState({ status: "error", message: describeError(error).message });
    }
  };
  if (state.status === "idle") return <button type="button" onClick={() => void start()}>Export all…</button>;
  if (state.status === "running") return <span role="status">Fetching every row… {state.run?.row_count ? `${state.run.row_count.toLocaleString()} so far` : ""}</span>;
  if (state.status === "error") return <span className="error-text" role="alert">{state.message}</span>;
  const done = state.run as RunInfo;
  return (
    <span role="status">
      {done.row_count?.toLocaleString()} rows{done.truncated ? " (export cap reached)" : ""}:{" "}
      <a href={exportUrl(done.id, "csv")} download>CSV</a> · <a href={exportUrl(done.id, "parquet")} download>Parquet</a> · <a href={exportUrl(done.id, "excel")} download>Excel</a>
    </span>
  );
}
