/** Routes: the login when nobody is signed in, else the shell and the page of the path. */
import { lazy, Suspense } from "react";
import { Login } from "../pages/Login";
import { Workbench } from "../pages/Workbench";
import { match, useLocation } from "./router";
import { useSession } from "./session";
import { Shell } from "./Shell";

const History = lazy(() => import("../pages/History"));
const Saved = lazy(() => import("../pages/Saved"));
const Connections = lazy(() => import("../pages/Connections"));
const ConnectionForm = lazy(() => import("../pages/ConnectionForm"));
const TableDetail = lazy(() => import("../pages/TableDetail"));
const Users = lazy(() => import("../pages/admin/Users"));
const Groups = lazy(() => import("../pages/admin/Groups"));
const Audit = lazy(() => import("../pages/admin/Audit"));
const Account = lazy(() => import("../pages/Account"));
const Knowledge = lazy(() => import("../pages/assistant/Knowledge"));
const InferenceLog = lazy(() => import("../pages/assistant/InferenceLog"));
const Endpoints = lazy(() => import("../pages/admin/Endpoints"));

function Page() {
  const { path } = useLocation();
  const { state } = useSession();
  const role = state.status === "signed-in" ? state.user.role : "viewer";
  if (path === "/") return role === "viewer" ? <Saved /> : <Workbench />;
  if (path === "/history") return <History />;
  if (path === "/saved") return <Saved />;
  if (path === "/connections") return <Connections />;
  if (path === "/connections/new") return <ConnectionForm name={null} />;
  const connection = match("/connections/:name", path);
  if (connection) return <ConnectionForm name={connection.name as string} />;
  const table = match("/tables/:connection/:schema/:table", path);
  if (table) return <TableDetail connection={table.connection as string} schema={table.schema as string} table={table.table as string} />;
  if (path === "/account") return <Account />;
  if (path === "/knowledge") return <Knowledge connection={null} />;
  const knowledge = match("/knowledge/:connection", path);
  if (knowledge) return <Knowledge key={knowledge.connection} connection={knowledge.connection as string} />;
  if (path === "/assistant/log") return <InferenceLog />;
  if (role === "admin") {
    if (path === "/admin/users") return <Users />;
    if (path === "/admin/groups") return <Groups />;
    if (path === "/admin/audit") return <Audit />;
    if (path === "/admin/endpoints") return <Endpoints />;
  }
  return (
    <div className="page">
      <h1>Not found</h1>
      <p>There is no page at {path}.</p>
    </div>
  );
}

export function App() {
  const { state } = useSession();
  if (state.status === "loading") return <div className="loading-block" role="status">Loading…</div>;
  if (state.status === "anonymous") return <Login expired={state.expired} />;
  return (
    <Shell>
      <Suspense fallback={<div className="loading-block" role="status">Loading…</div>}>
        <Page />
      </Suspense>
    </Shell>
  );
}
