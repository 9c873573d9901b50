/** The Ask panel beside the editor: a question about the current connection becomes one
 * checked SELECT. It shows the model's progress (elapsed time, Cancel), then the answer:
 * the SQL (insert into the editor, open in a new tab, run), the candidate tables with
 * their scores, the tables chosen, the examples used, what reached the model, the
 * correction rounds, tokens and latency; thumbs up or down; follow-up questions in a
 * thread. */
import { useQuery } from "@tanstack/react-query";
import { useEffect, useRef, useState } from "react";
import { formatDuration } from "../app/data";
import { navigate } from "../app/router";
import { ask, explainAnswer, listEndpoints, vote, type AskAnswer } from "./api";
import { askProblem, followUpOf, formatScore, sentLines, type AskProblem } from "./logic";

type Props = {
  connection: string | null;
  isAdmin: boolean;
  canRun: boolean;
  onInsert: (sql: string) => void;
  onOpenTab: (sql: string, question: string) => void;
  onRun: (sql: string) => void;
  onClose: () => void;
};

type Pending = { startedAt: number; controller: AbortController; what: string };

function useElapsed(since: number | null): number {
  const [now, setNow] = useState(Date.now());
  useEffect(() => {
    if (since === null) return;
    setNow(Date.now());
    const timer = setInterval(() => setNow(Date.now()), 100);
    return () => clearInterval(timer);
  }, [since]);
  return since === null ? 0 : Math.max(0, now - since);
}

export function AskPanel({ connection, isAdmin, canRun, onInsert, onOpenTab, onRun, onClose }: Props) {
  const [threads, setThreads] = useState<Record<string, AskAnswer[]>>({});
  const [question, setQuestion] = useState("");
  const [explain, setExplain] = useState(false);
  const [model, setModel] = useState("");
  // With several chat endpoints the user may pick one (else the default answers).
  const endpoints = useQuery({ queryKey: ["endpoints"], queryFn: listEndpoints, staleTime: 60_000 });
  const chat = (endpoints.data ?? []).filter((e) => e.kind === "chat");
  const [pending, setPending] = useState<Pending | null>(null);
  const [problem, setProblem] = useState<AskProblem | null>(null);
  const [notice, setNotice] = useState<string | null>(null);
  const box = useRef<HTMLTextAreaElement>(null);
  const elapsed = useElapsed(pending?.startedAt ?? null);
  const thread = connection ? (threads[connection] ?? []) : [];

  useEffect(() => box.current?.focus(), []);
  // Closing the panel abandons the request in flight (its answer lands in the thread of
  // the connection it was asked on while the panel stays open).
  const inFlight = useRef<AbortController | null>(null);
  useEffect(() => () => inFlight.current?.abort(), []);

  const setThread = (name: string, change: (answers: AskAnswer[]) => AskAnswer[]) => setThreads((all) => ({ ...all, [name]: change(all[name] ?? []) }));

  /** One model request at a time, with its progress and its Cancel. */
  const work = async (what: string, request: (signal: AbortSignal) => Promise<void>) => {
    if (!connection || pending) return;
    const controller = new AbortController();
    inFlight.current = controller;
    setPending({ startedAt: Date.now(), controller, what });
    setProblem(null);
    setNotice(null);
    try {
      await request(controller.signal);
    } catch (error) {
      if (controller.signal.aborted) setNotice("Cancelled: the answer will not be shown.");
      else setProblem(askProblem(error, isAdmin));
    } finally {
      inFlight.current = null;
      setPending(null);
    }
  };

  const submit = (text: string, explainToo: boolean) => {
    if (!connection) return;
    const name = connection;
    void work("Asking the model…", async (signal) => {
      const chosen = chat.some((e) => e.name === model) ? model : null;
      const answer = await ask(name, { question: text, explain: explainToo, execute: false, follow_up_of: followUpOf(thread), endpoint: chosen }, signal);
      setThread(name, (list) => [...list, answer]);
      setQuestion("");
    });
  };

  const explainOne = (answer: AskAnswer) => {
    if (!connection) return;
    const name = connection;
    void work("The model explains the SQL…", async (signal) => {
      const explained = await explainAnswer(answer.id, signal);
      setThread(name, (list) => list.map((a) => (a.id === explained.id ? explained : a)));
    });
  };

  const thumbs = async (answer: AskAnswer, value: "up" | "down") => {
    setNotice(null);
    try {
      const example = await vote(answer.id, value);
      setNotice(value === "up" && example ? "Thanks: the answer is now a candidate example, for an editor to review on the Knowledge page." : "Thanks: your vote is kept with the answer.");
    } catch (error) {
      setProblem(askProblem(error, isAdmin));
    }
  };

  return (
    <aside id="ask-panel" className="ask-panel" aria-label="Ask a question" onKeyDown={(e) => {
      if (e.key === "Escape" && pending) {
        e.preventDefault();
        pending.controller.abort();
      }
    }}>
      <div className="ask-head">
        <h2>Ask{connection ? <span className="muted"> · {connection}</span> : null}</h2>
        <span className="spacer" />
        {thread.length > 0 && (
          <button type="button" className="link" onClick={() => connection && setThreads({ ...threads, [connection]: [] })}>
            New thread
          </button>
        )}
        <button type="button" className="icon" aria-label="Close the Ask panel" onClick={onClose}>×</button>
      </div>
      <div className="ask-thread" aria-live="polite">
        {thread.length === 0 && !pending && (
          <p className="muted ask-hint">Ask about the data of {connection ?? "a connection"} in plain words. The answer is one SELECT, checked like your own SQL; nothing runs until you press Run.</p>
        )}
        {thread.map((answer, i) => (
          <AnswerCard
            key={answer.id}
            answer={answer}
            index={i}
            canRun={canRun}
            busy={pending !== null}
            onInsert={() => onInsert(answer.sql)}
            onOpenTab={() => onOpenTab(answer.sql, answer.question)}
            onRun={() => onRun(answer.sql)}
            onExplain={() => explainOne(answer)}
            onVote={(value) => void thumbs(answer, value)}
          />
        ))}
        {pending && (
          <div className="ask-progress" role="status">
            <span className="spinner" aria-hidden="true" />
            <span>
              {pending.what} <strong data-testid="ask-elapsed">{formatDuration(elapsed)}</strong>
            </span>
            <button type="button" className="danger" onClick={() => pending.controller.abort()}>
              Cancel (Esc)
            </button>
          </div>
        )}
        {problem && <ProblemText problem={problem} />}
        {notice && <p className="notice" role="status">{notice}</p>}
      </div>
      <form
        className="ask-form"
        onSubmit={(e) => {
          e.preventDefault();
          const text = question.trim();
          if (text) submit(text, explain);
        }}
      >
        <label htmlFor="ask-question">{thread.length ? "Follow-up question" : "Question"}</label>
        <textarea
          id="ask-question"
          ref={box}
          rows={3}
          maxLength={4000}
          value={question}
          placeholder={thread.length ? "e.g. only those from 2010" : "e.g. Which artist has the most albums?"}
          onChange={(e) => setQuestion(e.target.value)}
          onKeyDown={(e) => {
            if (e.key === "Enter" && (e.ctrlKey || e.metaKey)) {
              e.preventDefault();
              e.currentTarget.form?.requestSubmit();
            }
          }}
        />
        <div className="ask-actions">
          <label className="check">
            <input type="checkbox" checked={explain} onChange={(e) => setExplain(e.target.checked)} /> Explain in plain words
          </label>
          <span className="spacer" />
          {chat.length > 1 && (
            <select value={model} onChange={(e) => setModel(e.target.value)} aria-label="Model">
              <option value="">{chat.find((e) => e.default)?.name ?? "default"} (default)</option>
              {chat.filter((e) => !e.default).map((e) => <option key={e.id} value={e.name}>{e.name}</option>)}
            </select>
          )}
          <button type="submit" className="primary" disabled={!connection || pending !== null || !question.trim()} title="Ctrl/Cmd+Enter">
            {thread.length ? "Ask follow-up" : "Ask"}
          </button>
        </div>
      </form>
    </aside>
  );
}

function ProblemText({ problem }: { problem: AskProblem }) {
  return (
    <div className="run-error ask-error" role="alert">
      <strong>{problem.title}</strong>
      <p>{problem.message}</p>
      {problem.sql && <pre className="sql-preview" tabIndex={0}>{problem.sql}</pre>}
      {problem.problems && problem.problems.length > 0 && (
        <ul>
          {problem.problems.map((p, i) => (
            <li key={i}>
              {p.message}
              {p.suggestions && p.suggestions.length > 0 ? <span className="muted"> — did you mean {p.suggestions.join(", ")}?</span> : null}
            </li>
          ))}
        </ul>
      )}
      {problem.link && (
        <a href={problem.link.to} onClick={(e) => (e.preventDefault(), navigate(problem.link?.to ?? "/"))}>
          {problem.link.label}
        </a>
      )}
      {problem.requestId && <p className="muted">Request id {problem.requestId}</p>}
    </div>
  );
}

type CardProps = {
  answer: AskAnswer;
  index: number;
  canRun: boolean;
  busy: boolean;
  onInsert: () => void;
  onOpenTab: () => void;
  onRun: () => void;
  onExplain: () => void;
  onVote: (value: "up" | "down") => void;
};

function AnswerCard({ answer, index, canRun, busy, onInsert, onOpenTab, onRun, onExplain, onVote }: CardProps) {
  const [voted, setVoted] = useState<"up" | "down" | null>(null);
  const label = `Answer ${index + 1}`;
  return (
    <article className="ask-answer" aria-label={label}>
      <p className="ask-question">
        <span aria-hidden="true">❯ </span>
        {answer.question}
      </p>
      <pre className="sql-preview" data-testid="ask-sql" tabIndex={0}>{answer.sql}</pre>
      <div className="actions">
        {canRun && (
          <button type="button" className="primary" onClick={onRun} aria-label={`Run the SQL of ${label}`}>
            ▶ Run
          </button>
        )}
        <button type="button" onClick={onInsert} aria-label={`Insert the SQL of ${label} into the editor`}>
          Insert
        </button>
        <button type="button" onClick={onOpenTab} aria-label={`Open the SQL of ${label} in a new tab`}>
          New tab
        </button>
        {!answer.explanation && (
          <button type="button" onClick={onExplain} disabled={busy} aria-label={`Explain ${label} in plain words`} title="What the SQL does, in plain words">
            Explain
          </button>
        )}
        <span className="spacer" />
        <button type="button" aria-pressed={voted === "up"} aria-label={`Thumbs up: ${label} is right (suggest it as an example)`} onClick={() => (setVoted("up"), onVote("up"))}>
          <span aria-hidden="true">▲</span> Right
        </button>
        <button type="button" aria-pressed={voted === "down"} aria-label={`Thumbs down: ${label} is wrong`} onClick={() => (setVoted("down"), onVote("down"))}>
          <span aria-hidden="true">▼</span> Wrong
        </button>
      </div>
      {answer.explanation && (
        <div className="ask-explanation">
          <h3>In plain words</h3>
          <p>{answer.explanation}</p>
        </div>
      )}
      <p className="muted small">
        {answer.endpoint} · {formatDuration(answer.latency_ms)} · {answer.tokens_in.toLocaleString("en")} tokens in, {answer.tokens_out.toLocaleString("en")} out · {answer.rounds.length === 0 ? "right the first time" : `${answer.rounds.length} correction round${answer.rounds.length > 1 ? "s" : ""}`}
      </p>
      <details>
        <summary>Tables chosen ({answer.tables.length})</summary>
        <ul className="ask-list">{answer.tables.map((t) => <li key={t}><code>{t}</code></li>)}</ul>
      </details>
      <details>
        <summary>Candidate tables ({answer.candidates.length})</summary>
        <table className="list compact" aria-label="Candidate tables">
          <thead>
            <tr>
              <th scope="col">Table</th>
              <th scope="col" className="num">Score</th>
              <th scope="col">Why</th>
            </tr>
          </thead>
          <tbody>
            {answer.candidates.map((c) => {
              const name = `${c.schema_name}.${c.table}`;
              return (
                <tr key={name} className={answer.tables.includes(name) ? "chosen" : undefined}>
                  <td><code>{name}</code>{answer.tables.includes(name) ? <span className="pill">chosen</span> : null}</td>
                  <td className="num">{formatScore(c.score)}</td>
                  <td>{(c.why ?? []).join(", ")}</td>
                </tr>
              );
            })}
          </tbody>
        </table>
      </details>
      <details>
        <summary>Examples used ({answer.examples.length})</summary>
        {answer.examples.length === 0 ? (
          <p className="muted small">No approved example was close enough.</p>
        ) : (
          <ul className="ask-list">{answer.examples.map((e) => <li key={e.id}>{e.question} <span className="muted">({formatScore(e.score)})</span></li>)}</ul>
        )}
      </details>
      <details>
        <summary>Sent to the model</summary>
        <ul className="ask-list">{sentLines(answer.sent).map((line) => <li key={line}>{line}</li>)}</ul>
      </details>
      {answer.rounds.length > 0 && (
        <details>
          <summary>Correction rounds ({answer.rounds.length})</summary>
          <ol className="ask-list">
            {answer.rounds.map((round, i) => (
              <li key={i}>
                <pre className="sql-preview" tabIndex={0}>{round.sql}</pre>
                <ul>{round.problems.map((p, j) => <li key={j}>{p.message}{p.suggestions?.length ? ` — did you mean ${p.suggestions.join(", ")}?` : ""}</li>)}</ul>
              </li>
            ))}
          </ol>
        </details>
      )}
    </article>
  );
}
