/**
 * The sign-in screen, shown while `/api/me` answers 401: an operator token (from
 * `claw-supervisor operator add <name> --role operator|viewer`) is sent once to `POST /api/signin`, which sets the
 * HttpOnly session cookie; the page never keeps the token.
 */
import { useId, useState } from "preact/hooks";
import { signIn } from "./live.js";

/** The sign-in form; `reason` says why it is shown again (a session that ended), when there is one. */
export function SignIn(props: { reason: string | null }) {
  const id = useId();
  const [token, setToken] = useState("");
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const submit = async (e: Event) => {
    e.preventDefault();
    if (!token.trim()) return;
    setBusy(true);
    setError(null);
    const failure = await signIn(token.trim());
    setBusy(false);
    if (failure !== null) setError(failure);
    else setToken("");
  };
  return (
    <main id="main" class="signin">
      <form class="signin-card" onSubmit={submit} aria-labelledby={`${id}-h`}>
        <h1 id={`${id}-h`}>Claw Supervisor</h1>
        <p>Sign in with your operator token.</p>
        {props.reason !== null && (
          <p class="notice" role="status">
            {props.reason}
          </p>
        )}
        <label for={`${id}-token`}>Operator token</label>
        <input
          id={`${id}-token`}
          type="password"
          data-testid="signin-token"
          autocomplete="off"
          spellcheck={false}
          placeholder="cso_…"
          value={token}
          onInput={(e) => setToken(e.currentTarget.value)}
          aria-describedby={`${id}-help`}
          aria-invalid={error !== null}
        />
        <button type="submit" data-testid="signin-submit" disabled={busy || !token.trim()}>
          {busy ? "Signing in…" : "Sign in"}
        </button>
        {error !== null && (
          <p class="error" role="alert" data-testid="signin-error">
            {error}
          </p>
        )}
        <p class="help" id={`${id}-help`}>
          No token? On the supervisor's machine run <code>{"claw-supervisor operator add <name> --role operator"}</code>{" "}
          (or <code>--role viewer</code> to only look); it prints the token once.
        </p>
      </form>
    </main>
  );
}
