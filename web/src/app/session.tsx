/** Who is signed in: the user, the CSRF token (kept in memory only), and what happens when
 * the session ends (back to the login, then to where the user was). */
import { createContext, useCallback, useContext, useEffect, useMemo, useState, type ReactNode } from "react";
import { api, must, onConnectivity, setCsrfToken, type UserInfo } from "../api/client";

export type SessionState =
  | { status: "loading" }
  | { status: "anonymous"; expired: boolean }
  | { status: "signed-in"; user: UserInfo };

type SessionContext = {
  state: SessionState;
  signIn: (username: string, password: string) => Promise<void>;
  signOut: () => Promise<void>;
  refresh: () => Promise<void>;
};

const Context = createContext<SessionContext | null>(null);
const RETURN_TO = "querydeck.return-to";

export function SessionProvider({ children }: { children: ReactNode }) {
  const [state, setState] = useState<SessionState>({ status: "loading" });

  const refresh = useCallback(async () => {
    try {
      const me = await must(api.GET("/api/v1/auth/me"));
      setCsrfToken(me.csrf_token ?? null);
      setState({ status: "signed-in", user: me.user });
    } catch {
      setCsrfToken(null);
      setState({ status: "anonymous", expired: false });
    }
  }, []);

  useEffect(() => {
    void refresh();
    return onConnectivity((event) => {
      if (event !== "unauthenticated") return;
      setState((current) => {
        if (current.status !== "signed-in") return current;
        sessionStorage.setItem(RETURN_TO, location.pathname + location.search);
        setCsrfToken(null);
        return { status: "anonymous", expired: true };
      });
    });
  }, [refresh]);

  const signIn = useCallback(async (username: string, password: string) => {
    const login = await must(api.POST("/api/v1/auth/login", { body: { username, password } }));
    setCsrfToken(login.csrf_token);
    setState({ status: "signed-in", user: login.user });
  }, []);

  const signOut = useCallback(async () => {
    try {
      await must(api.POST("/api/v1/auth/logout"));
    } finally {
      setCsrfToken(null);
      sessionStorage.removeItem(RETURN_TO);
      setState({ status: "anonymous", expired: false });
    }
  }, []);

  const value = useMemo(() => ({ state, signIn, signOut, refresh }), [state, signIn, signOut, refresh]);
  return <Context.Provider value={value}>{children}</Context.Provider>;
}

export function useSession(): SessionContext {
  const context = useContext(Context);
  if (!context) throw new Error("useSession outside SessionProvider");
  return context;
}

export function useUser(): UserInfo {
  const { state } = useSession();
  if (state.status !== "signed-in") throw new Error("useUser without a signed-in user");
  return state.user;
}

/** Where to go after a login: the page the expired session was on, once. */
export function takeReturnTo(): string | null {
  const to = sessionStorage.getItem(RETURN_TO);
  sessionStorage.removeItem(RETURN_TO);
  return to && to.startsWith("/") && !to.startsWith("//") ? to : null;
}
