/** Shared queries of lists the pages use (TanStack Query keeps and refreshes them). */
import { useQuery } from "@tanstack/react-query";
import { fetchJson, type Schemas } from "../api/client";

export type ConnectionInfo = Schemas["ConnectionInfo"];
export type DriverInfo = Schemas["DriverInfo"];

export function useConnections() {
  return useQuery({
    queryKey: ["connections"],
    queryFn: () => fetchJson<Schemas["Page_ConnectionInfo_"]>("/api/v1/connections?limit=1000").then((p) => p.items),
  });
}

export function useDrivers() {
  return useQuery({
    queryKey: ["drivers"],
    queryFn: () => fetchJson<DriverInfo[]>("/api/v1/drivers"),
    staleTime: Infinity,
  });
}

/** The SQL dialect of a connection's driver (null until known). */
export function useDialect(connection: string | null): string | null {
  const connections = useConnections();
  const drivers = useDrivers();
  const driver = connections.data?.find((c) => c.name === connection)?.driver;
  return drivers.data?.find((d) => d.name === driver)?.dialect ?? driver ?? null;
}

export function formatAgo(iso: string | null | undefined, now = Date.now()): string {
  if (!iso) return "never";
  const seconds = Math.max(0, Math.round((now - Date.parse(iso)) / 1000));
  if (seconds < 60) return `${seconds} s ago`;
  const minutes = Math.round(seconds / 60);
  if (minutes < 60) return `${minutes} min ago`;
  const hours = Math.round(minutes / 60);
  if (hours < 48) return `${hours} h ago`;
  return `${Math.round(hours / 24)} days ago`;
}

export function formatDuration(ms: number | null | undefined): string {
  if (ms === null || ms === undefined) return "";
  if (ms < 1000) return `${Math.round(ms)} ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)} s`;
  return `${Math.floor(ms / 60_000)} min ${Math.round((ms % 60_000) / 1000)} s`;
}
