/** The page's entry: styles, the app into #app, then the session check (`/api/me`) that opens the live socket. */
import "./zod-config.js";
import { render } from "preact";
import { App } from "./app.js";
import { startSession } from "./live.js";
import "./styles.css";

const root = document.getElementById("app");
if (root === null) throw new Error("the page has no #app element");
render(<App />, root);
void startSession();
