/**
 * `#/notices`: the FLEET notices that arrived since the page opened (the socket's `notice` frames; notices are
 * news, the other views are the truth), newest first: when, the kind (high priority ones tinted, a budget stop or
 * an error in the error tone), the session it is about (a link to its view) and the server's one line. A filter
 * keeps only high priority or only budget warnings and stops (issue 19).
 */
import { useId, useState } from "preact/hooks";
import { useLive } from "./live.js";
import {
  filterNotices,
  NOTICE_FILTERS,
  type NoticeFilter,
  noticeKindLabel,
  noticePriority,
  noticeSessionKey,
  noticeTone,
} from "./notice-list.js";
import { relativeTime, useNow } from "./relative-time.js";
import "./views.css";

/** The view. */
export function NoticesView() {
  const live = useLive();
  const id = useId();
  const [filter, setFilter] = useState<NoticeFilter>("all");
  // Re-render as the relative times age (a local clock, not a poll).
  useNow();
  const shown = filterNotices(live.notices, filter);
  return (
    <section class="view notices-view" aria-labelledby={`${id}-h`}>
      <div class="view-head">
        <h1 id={`${id}-h`}>Notices</h1>
        <p class="count" data-testid="notices-count">
          {live.notices.length === 0
            ? "No notice since this page opened."
            : `${shown.length} of ${live.notices.length} since this page opened`}
        </p>
      </div>
      <form class="filters" aria-label="Filter notices" onSubmit={(e) => e.preventDefault()}>
        <div class="filter">
          <label for={`${id}-f`}>Show</label>
          <select
            id={`${id}-f`}
            data-testid="notices-filter"
            value={filter}
            onChange={(e) => {
              const v = e.currentTarget.value;
              setFilter(v === "high" || v === "budget" ? v : "all");
            }}
          >
            {NOTICE_FILTERS.map(([value, text]) => (
              <option key={value} value={value}>
                {text}
              </option>
            ))}
          </select>
        </div>
      </form>
      <p class="hint">Fleet notices as they arrive; the attention queue and the fleet show what is true now.</p>
      {shown.length > 0 && (
        <div class="table-scroll">
          <table class="notices">
            <caption class="visually-hidden">Fleet notices, newest first</caption>
            <thead>
              <tr>
                <th scope="col">When</th>
                <th scope="col">Kind</th>
                <th scope="col">What</th>
              </tr>
            </thead>
            <tbody>
              {shown.map((n) => {
                const key = noticeSessionKey(n);
                return (
                  <tr
                    key={n.seq}
                    data-testid="notice-row"
                    data-kind={n.kind}
                    data-priority={noticePriority(n.kind)}
                    data-key={key ?? ""}
                  >
                    <td class="when">
                      <time dateTime={new Date(n.atMs).toISOString()} title={new Date(n.atMs).toLocaleString()}>
                        {relativeTime(n.atMs)}
                      </time>
                    </td>
                    <td>
                      <span class={`badge tone-${noticeTone(n.kind)}`}>{noticeKindLabel(n.kind)}</span>
                    </td>
                    <td>
                      {n.text}
                      {key !== null && (
                        <>
                          {" "}
                          <a href={`#/session/${key}`} class="sub">
                            open session
                          </a>
                        </>
                      )}
                    </td>
                  </tr>
                );
              })}
            </tbody>
          </table>
        </div>
      )}
    </section>
  );
}
