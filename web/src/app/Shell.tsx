/** The signed-in shell: navigation (only what the role allows), the connectivity banner,
 * the theme switch, the shortcuts dialog (?) and the routed page. */
import { useQueryClient } from "@tanstack/react-query";
import { useEffect, useRef, useState, type ReactNode } from "react";
import { onConnectivity } from "../api/client";
import { navigate, useLocation } from "./router";
import { useSession, useUser } from "./session";
import { useTheme } from "./theme";

type Link = { to: string; label: string; admin?: boolean; writer?: boolean };
const LINKS: Link[] = [
  { to: "/", label: "Editor", writer: true },
  { to: "/history", label: "History" },
  { to: "/saved", label: "Saved queries" },
  { to: "/connections", label: "Connections" },
  { to: "/knowledge", label: "Knowledge" },
  { to: "/assistant/log", label: "Model log" },
  { to: "/admin/users", label: "Users", admin: true },
  { to: "/admin/groups", label: "Groups", admin: true },
  { to: "/admin/audit", label: "Audit log", admin: true },
  { to: "/admin/endpoints", label: "Model endpoints", admin: true },
];

export const SHORTCUTS: [string, string][] = [
  ["Ctrl/Cmd + Enter", "Run the statement under the cursor (or the selection)"],
  ["Ctrl/Cmd + Shift + Enter", "Run every statement, each into its own result tab"],
  ["Esc", "Cancel the running statement"],
  ["Shift + Alt + F", "Format the SQL"],
  ["Ctrl + Space", "Autocomplete"],
  ["Ctrl/Cmd + C", "Copy the selected cells (TSV)"],
  ["Arrows, Shift + arrows", "Move in the grid, extend the selection"],
  ["Enter (grid)", "Show the whole value of a cell"],
  ["Ctrl/Cmd + Enter (Ask panel)", "Send the question"],
  ["Esc (Ask panel)", "Cancel the question in flight"],
  ["?", "This list"],
];

export function visibleLinks(role: string): Link[] {
  return LINKS.filter((l) => (!l.admin || role === "admin") && (!l.writer || role !== "viewer"));
}

export function Shell({ children }: { children: ReactNode }) {
  const user = useUser();
  const { signOut } = useSession();
  const { path } = useLocation();
  const [theme, setTheme] = useTheme();
  const [offline, setOffline] = useState(false);
  const [help, setHelp] = useState(false);
  const [menuOpen, setMenuOpen] = useState(false);
  const queries = useQueryClient();

  useEffect(
    () =>
      onConnectivity((event) => {
        if (event === "offline") setOffline(true);
        if (event === "online") setOffline(false);
      }),
    [],
  );

  // While offline, ask the server every 2 s; once it answers, refresh what is shown.
  useEffect(() => {
    if (!offline) return;
    const timer = setInterval(async () => {
      try {
        const response = await fetch("/healthz", { cache: "no-store" });
        if (response.ok) {
          setOffline(false);
          void queries.invalidateQueries();
        }
      } catch {
        // still away
      }
    }, 2000);
    return () => clearInterval(timer);
  }, [offline, queries]);

  useEffect(() => {
    const onKey = (event: KeyboardEvent) => {
      const target = event.target as HTMLElement;
      const typing = target.closest("input, textarea, select, .cm-editor");
      if (event.key === "?" && !typing) {
        event.preventDefault();
        setHelp(true);
      }
    };
    window.addEventListener("keydown", onKey);
    return () => window.removeEventListener("keydown", onKey);
  }, []);

  const links = visibleLinks(user.role);
  const current = links.filter((l) => (l.to === "/" ? path === "/" : path.startsWith(l.to))).pop();
  return (
    <div className="shell">
      <a className="skip-link" href="#main">Skip to content</a>
      <header className="topbar">
        <a className="brand" href="/" onClick={(e) => (e.preventDefault(), navigate(user.role === "viewer" ? "/saved" : "/"))}>
          <img src="/favicon.svg" alt="" width={22} height={22} /> querydeck
        </a>
        <button type="button" className="menu-toggle" aria-expanded={menuOpen} aria-controls="main-nav" onClick={() => setMenuOpen(!menuOpen)}>
          Menu
        </button>
        <nav id="main-nav" aria-label="Main" className={menuOpen ? "open" : undefined}>
          {links.map((l) => (
            <a key={l.to} href={l.to} aria-current={current === l ? "page" : undefined} onClick={(e) => (e.preventDefault(), setMenuOpen(false), navigate(l.to))}>
              {l.label}
            </a>
          ))}
        </nav>
        <span className="spacer" />
        <button type="button" className="icon" onClick={() => setTheme(theme === "dark" ? "light" : "dark")} aria-label={`Switch to the ${theme === "dark" ? "light" : "dark"} theme`}>
          {theme === "dark" ? "☀" : "☾"}
        </button>
        <button type="button" className="icon" onClick={() => setHelp(true)} aria-label="Keyboard shortcuts">
          ?
        </button>
        <a href="/account" className="user" onClick={(e) => (e.preventDefault(), navigate("/account"))}>
          {user.username} <span className="muted">({user.role})</span>
        </a>
        <button type="button" onClick={() => void signOut().then(() => navigate("/", { replace: true }))}>
          Sign out
        </button>
      </header>
      {offline && (
        <div className="banner offline" role="alert">
          The server cannot be reached. Retrying every 2 seconds; your editor text and tabs are kept in this browser.
        </div>
      )}
      <main id="main" tabIndex={-1}>
        {children}
      </main>
      {help && <ShortcutsDialog onClose={() => setHelp(false)} />}
    </div>
  );
}

function ShortcutsDialog({ onClose }: { onClose: () => void }) {
  const close = useRef<HTMLButtonElement>(null);
  useEffect(() => close.current?.focus(), []);
  return (
    <div className="dialog-backdrop" onClick={onClose}>
      <div className="dialog" role="dialog" aria-modal="true" aria-label="Keyboard shortcuts" onClick={(e) => e.stopPropagation()} onKeyDown={(e) => e.key === "Escape" && onClose()}>
        <h2>Keyboard shortcuts</h2>
        <table className="shortcuts">
          <tbody>
            {SHORTCUTS.map(([keys, what]) => (
              <tr key={keys}>
                <th scope="row">
                  <kbd>{keys}</kbd>
                </th>
                <td>{what}</td>
              </tr>
            ))}
          </tbody>
        </table>
        <div className="dialog-actions">
          <button type="button" ref={close} onClick={onClose}>Close</button>
        </div>
      </div>
    </div>
  );
}
