/**
 * Verified transition plans: the stepper's fast path for machines made of compound and atomic states, guards and
 * `assign` actions (what `machines/` holds).
 *
 * For such a machine, what one event does is decided by XState's own `getTransitionData` (guards and all); what
 * follows depends only on which transition that was and which leaf state the snapshot is in: which states are
 * exited and entered, in which order their exit, transition and entry actions run, and the state configuration
 * it ends in. That plan is computed once per (transition, leaf), by the SCXML rules XState's `microstep`
 * implements, and checked against XState on its first use: the step is run through `machine.transition` as
 * well, and the plan is kept only when it reaches the same configuration and the same context (else that
 * transition is always left to XState). From then on a step runs XState's transition selection, calls the plan's
 * assign functions exactly as XState calls them (`{ context, event, spawn, self, system }` and their params) and
 * builds the next snapshot from the verified configuration: the same fields a full step gives, without its
 * exit/entry-set computations, sets, arrays and intermediate snapshots (a full step was most of the registry's
 * fold cost at ingest rates; `bench/fold.ts` measures both).
 *
 * Anything outside that subset is left to XState: a machine with parallel, history or final states, eventless
 * (`always`) or delayed transitions, or invoked actors gets no plans; a transition whose actions are not all
 * `assign` (or that spawns) is left to XState, as is an `xstate.*` event or a guard that throws.
 */
import type { AnyActorScope, AnyStateMachine, AnyStateNode, AnyTransitionDefinition } from "xstate";

/** An event as the stepper passes it on. */
export interface EventObject {
  type: string;
}

/** The fields of a machine snapshot, in the order XState's `createMachineSnapshot` lays them out. */
export interface PlainSnapshot {
  status: string;
  output: unknown;
  error: unknown;
  machine: AnyStateMachine;
  context: Record<string, unknown>;
  _nodes: AnyStateNode[];
  value: unknown;
  tags: unknown;
  children: Record<string, unknown>;
  historyValue: unknown;
  matches: unknown;
  hasTag: unknown;
  can: unknown;
  getMeta: unknown;
  toJSON: unknown;
}

type Assigner = (args: unknown, params: unknown) => unknown;

/** One `assign` of a plan, resolved as XState's `resolveAndExecuteActionsWithContext` resolves it. */
interface AssignStep {
  assignment: Assigner | Record<string, unknown>;
  /** Whether the action named params (`'params' in action`), and what they are. */
  hasParams: boolean;
  params: unknown;
}

interface Plan {
  status: "unverified" | "verified" | "full";
  /** The configuration after the step (a set of state nodes). */
  nodes: Set<AnyStateNode>;
  /** True when the configuration does not change (the snapshot's own `_nodes`, `value` and `tags` are kept). */
  unchanged: boolean;
  actions: AssignStep[];
  /** The configuration's `_nodes`, `value` and `tags` as XState built them at verification. */
  template?: Pick<PlainSnapshot, "_nodes" | "value" | "tags">;
}

/** Thrown by the `spawn` a plan's assigns get: the step is then left to XState. */
class NeedsFullStep extends Error {}

const noSpawn = (): never => {
  throw new NeedsFullStep("spawn");
};

/** The proper ancestors of `node`, nearest first, up to (without) `to` (XState's `getProperAncestors`). */
function properAncestors(node: AnyStateNode, to: AnyStateNode | undefined): AnyStateNode[] {
  const out: AnyStateNode[] = [];
  if (to === node) return out;
  for (let m = node.parent; m && m !== to; m = m.parent) out.push(m);
  return out;
}

/** True when `child` is a proper descendant of `parent` (XState's `isDescendant`). */
function isDescendant(child: AnyStateNode, parent: AnyStateNode): boolean {
  let marker = child;
  while (marker.parent && marker.parent !== parent) marker = marker.parent;
  return marker.parent === parent;
}

/** Every state node of the machine. */
function allNodes(node: AnyStateNode): AnyStateNode[] {
  return [node, ...Object.values(node.states as Record<string, AnyStateNode>).flatMap(allNodes)];
}

/**
 * The transitions on `type` XState looks at from `leaf`, in its order (the leaf's, then each ancestor's, each
 * node's in definition order), or undefined when a node on the way has a wildcard descriptor.
 */
function candidatesOf(leaf: AnyStateNode, type: string): AnyTransitionDefinition[] | undefined {
  const list: AnyTransitionDefinition[] = [];
  for (let node: AnyStateNode | undefined = leaf; node; node = node.parent) {
    const transitions = node.transitions as Map<string, AnyTransitionDefinition[]>;
    for (const descriptor of transitions.keys()) if (descriptor.includes("*")) return undefined;
    list.push(...(transitions.get(type) ?? []));
  }
  return list;
}

/** True when the machine uses only what plans cover (see the module comment). */
function planable(machine: AnyStateMachine): boolean {
  return allNodes(machine.root).every(
    (n) =>
      (n.type === "atomic" || n.type === "compound") &&
      !n.always?.length &&
      n.after.length === 0 &&
      n.invoke.length === 0,
  );
}

/** Plans per (transition, leaf) for one machine; `full` runs a step through XState. */
export class TransitionPlans {
  private readonly plans = new Map<AnyTransitionDefinition, Map<AnyStateNode, Plan>>();
  /** Per leaf and event type: the transitions XState would look at, in order (undefined: left to XState). */
  private readonly candidates = new Map<
    AnyStateNode,
    Map<string, { list: AnyTransitionDefinition[] | undefined; checked: boolean }>
  >();

  private constructor(
    private readonly machine: AnyStateMachine,
    private readonly scope: AnyActorScope,
    private readonly full: (snapshot: PlainSnapshot, event: EventObject) => PlainSnapshot,
    private readonly counts: { rejected: number },
  ) {}

  /** Plans for `machine` (`counts.rejected` counts plans XState disagreed with), or undefined when it uses something plans do not cover (every step goes to XState). */
  static for(
    machine: AnyStateMachine,
    scope: AnyActorScope,
    full: (snapshot: PlainSnapshot, event: EventObject) => PlainSnapshot,
    counts: { rejected: number },
  ): TransitionPlans | undefined {
    return planable(machine) ? new TransitionPlans(machine, scope, full, counts) : undefined;
  }

  /** The snapshot after `event`, or undefined when this step is left to XState. */
  step(snapshot: PlainSnapshot, event: EventObject): PlainSnapshot | undefined {
    if (event.type.startsWith("xstate.")) return undefined;
    const leaf = snapshot._nodes.find((n) => n.type === "atomic");
    if (leaf === undefined) return undefined;
    let transition: AnyTransitionDefinition | null | undefined;
    try {
      transition = this.select(leaf, snapshot, event);
    } catch {
      return undefined; // a guard threw: XState throws it again, with its own message
    }
    if (transition === undefined) return undefined;
    // No transition: XState's macrostep hands the same snapshot back (no eventless transitions here).
    if (transition === null) return snapshot;
    let byLeaf = this.plans.get(transition);
    if (!byLeaf) this.plans.set(transition, (byLeaf = new Map()));
    let plan = byLeaf.get(leaf);
    if (!plan) byLeaf.set(leaf, (plan = this.makePlan(transition, snapshot)));
    if (plan.status === "full") return undefined;
    if (plan.status === "unverified") return this.verify(plan, snapshot, event);
    try {
      return this.build(plan, snapshot, this.contextAfter(plan, snapshot, event));
    } catch (err) {
      if (err instanceof NeedsFullStep) return undefined;
      throw err;
    }
  }

  /**
   * The transition XState's `getTransitionData` selects for `event` in `leaf` (null for none), or undefined when
   * it cannot tell (the step is then left to XState). For a machine of atomic and compound states XState looks at
   * the leaf, then each ancestor up to the root, and takes the first transition on the event's type whose guard
   * passes (`StateNode.next` over `getCandidates`). The candidates along that path are listed once per (leaf,
   * event type), and each guard is evaluated as XState's `evaluateGuard` does; without the per-call work of
   * `transitionNode` (memo keys, arrays of actions, Object.keys of state values). A list is made only when no
   * node on the path has a wildcard descriptor (XState matches those by its own rules), and its first use is
   * checked against `getTransitionData`.
   */
  private select(
    leaf: AnyStateNode,
    snapshot: PlainSnapshot,
    event: EventObject,
  ): AnyTransitionDefinition | null | undefined {
    let byType = this.candidates.get(leaf);
    if (!byType) this.candidates.set(leaf, (byType = new Map()));
    let entry = byType.get(event.type);
    if (entry === undefined) {
      entry = { list: candidatesOf(leaf, event.type), checked: false };
      byType.set(event.type, entry);
    }
    if (entry.list === undefined) return this.xstateSelects(snapshot, event);
    let selected: AnyTransitionDefinition | null = null;
    for (const candidate of entry.list)
      if (!candidate.guard || this.guardPasses(candidate.guard, snapshot, event)) {
        selected = candidate;
        break;
      }
    if (entry.checked) return selected;
    const expected = this.xstateSelects(snapshot, event);
    if (expected !== selected) {
      entry.list = undefined;
      this.counts.rejected++;
      return expected;
    }
    entry.checked = true;
    return selected;
  }

  /** XState's own selection: its one transition, null for none, undefined for several (left to XState). */
  private xstateSelects(snapshot: PlainSnapshot, event: EventObject): AnyTransitionDefinition | null | undefined {
    const transitions = this.machine.getTransitionData(snapshot as never, event as never);
    return transitions.length === 0 ? null : transitions.length === 1 ? transitions[0] : undefined;
  }

  /** XState's `evaluateGuard` (xstate 5): a named, parameterised, inline or built-in (`and`, `not`, ...) guard. */
  private guardPasses(guard: unknown, snapshot: PlainSnapshot, event: EventObject): boolean {
    const inline = typeof guard === "function";
    const name = typeof guard === "string" ? guard : (guard as { type: string }).type;
    const resolved = inline ? guard : (this.machine.implementations.guards as Record<string, unknown>)[name];
    if (!inline && !resolved) throw new Error(`Guard '${name}' is not implemented.`);
    if (typeof resolved !== "function") return this.guardPasses(resolved, snapshot, event);
    const context = snapshot.context;
    const args = { context, event };
    const params =
      inline || typeof guard === "string" || !("params" in (guard as object))
        ? undefined
        : typeof (guard as { params: unknown }).params === "function"
          ? (guard as { params: (a: unknown) => unknown }).params({ context, event })
          : (guard as { params: unknown }).params;
    if (!("check" in resolved)) return Boolean((resolved as Assigner)(args, params));
    return Boolean((resolved as { check: (...a: unknown[]) => unknown }).check(snapshot, args, resolved));
  }

  /** The plan of `transition` from the configuration of `snapshot` (XState's exit and entry sets, no history). */
  private makePlan(transition: AnyTransitionDefinition, snapshot: PlainSnapshot): Plan {
    const current = new Set(snapshot._nodes);
    const fullPlan: Plan = { status: "full", nodes: current, unchanged: true, actions: [] };
    const exit: AnyStateNode[] = [];
    const enter = new Set<AnyStateNode>();
    const defaultEntry = new Set<AnyStateNode>();
    const targets = transition.target ?? [];
    if (targets.length > 0) {
      const domain = this.domainOf(transition, targets);
      if (domain === undefined) return fullPlan;
      if (transition.reenter && transition.source === domain) exit.push(domain);
      for (const n of current) if (isDescendant(n, domain) && !exit.includes(n)) exit.push(n);
      exit.sort((a, b) => b.order - a.order);
      for (const s of targets) {
        if (transition.source !== s || transition.source !== domain || transition.reenter) {
          enter.add(s);
          defaultEntry.add(s);
        }
        for (let n = s; n.type === "compound"; ) {
          const [initial] = n.initial.target as AnyStateNode[];
          if (initial === undefined) return fullPlan;
          enter.add(initial);
          defaultEntry.add(initial);
          n = initial;
        }
        const reentrancy = !transition.source.parent && transition.reenter ? undefined : domain;
        for (const anc of properAncestors(s, domain)) if (!reentrancy || isDescendant(anc, reentrancy)) enter.add(anc);
      }
    }
    const nodes = new Set(current);
    for (const n of exit) nodes.delete(n);
    for (const n of enter) nodes.add(n);
    const refs: unknown[] = [];
    for (const n of exit) refs.push(...n.exit);
    refs.push(...transition.actions);
    for (const n of [...enter].sort((a, b) => a.order - b.order)) {
      refs.push(...n.entry);
      if (defaultEntry.has(n)) refs.push(...n.initial.actions);
    }
    const actions: AssignStep[] = [];
    for (const ref of refs) {
      const step = this.assignOf(ref);
      if (step === undefined) return fullPlan;
      actions.push(step);
    }
    const unchanged = nodes.size === current.size && [...nodes].every((n) => current.has(n));
    return { status: "unverified", nodes, unchanged, actions };
  }

  /** XState's `getTransitionDomain` without history states; undefined for a reentering root transition. */
  private domainOf(transition: AnyTransitionDefinition, targets: readonly AnyStateNode[]): AnyStateNode | undefined {
    const source = transition.source;
    if (!transition.reenter && targets.every((t) => t === source || isDescendant(t, source))) return source;
    const [head, ...tail] = [...targets, source];
    for (const anc of properAncestors(head!, undefined)) if (tail.every((sn) => isDescendant(sn, anc))) return anc;
    return transition.reenter ? undefined : this.machine.root;
  }

  /** An action reference resolved to its `assign`, as XState resolves it; undefined for anything else. */
  private assignOf(ref: unknown): AssignStep | undefined {
    const inline = typeof ref === "function";
    const implementations = this.machine.implementations.actions as Record<string, unknown>;
    const name = typeof ref === "string" ? ref : (ref as { type?: unknown } | null)?.type;
    const action = (inline ? ref : typeof name === "string" ? implementations[name] : undefined) as
      | { type?: unknown; assignment?: unknown; resolve?: unknown }
      | undefined;
    if (action?.type !== "xstate.assign" || typeof action.resolve !== "function") return undefined;
    const assignment = action.assignment;
    if (typeof assignment !== "function" && (typeof assignment !== "object" || assignment === null)) return undefined;
    const hasParams = !inline && typeof ref === "object" && ref !== null && "params" in ref;
    return {
      assignment: assignment as AssignStep["assignment"],
      hasParams,
      params: hasParams ? (ref as { params: unknown }).params : undefined,
    };
  }

  /** The context after the plan's assigns, each called as XState's `resolveAssign` calls it. */
  private contextAfter(plan: Plan, snapshot: PlainSnapshot, event: EventObject): Record<string, unknown> {
    let context = snapshot.context;
    for (const a of plan.actions) {
      const params = !a.hasParams
        ? undefined
        : typeof a.params === "function"
          ? (a.params as (x: unknown) => unknown)({ context, event })
          : a.params;
      const args = { context, event, spawn: noSpawn, self: this.scope.self, system: this.scope.system };
      let update: unknown;
      if (typeof a.assignment === "function") update = a.assignment(args, params);
      else {
        const partial: Record<string, unknown> = {};
        for (const key of Object.keys(a.assignment)) {
          const p = a.assignment[key];
          partial[key] = typeof p === "function" ? (p as Assigner)(args, params) : p;
        }
        update = partial;
      }
      // XState copies with `Object.assign({}, context, update)`: the same keys, order and values as this spread,
      // but built by adding properties one by one to an empty object (its backing store grows and is copied a
      // few times: most of a step's garbage). A spread clones the context's shape at once.
      context = { ...context, ...(update as object) };
    }
    return context;
  }

  /** The next snapshot: XState's fields, the verified configuration, the new context. */
  private build(plan: Plan, snapshot: PlainSnapshot, context: Record<string, unknown>): PlainSnapshot {
    if (plan.unchanged && plan.actions.length === 0) return snapshot;
    const config = plan.unchanged ? snapshot : (plan.template as NonNullable<Plan["template"]>);
    return {
      status: snapshot.status,
      output: snapshot.output,
      error: snapshot.error,
      machine: snapshot.machine,
      context,
      _nodes: config._nodes,
      value: config.value,
      tags: config.tags,
      children: snapshot.children,
      historyValue: snapshot.historyValue,
      matches: snapshot.matches,
      hasTag: snapshot.hasTag,
      can: snapshot.can,
      getMeta: snapshot.getMeta,
      toJSON: snapshot.toJSON,
    };
  }

  /** First use of a plan: the step goes through XState, and the plan is kept only if it agrees. */
  private verify(plan: Plan, snapshot: PlainSnapshot, event: EventObject): PlainSnapshot {
    const expected = this.full(snapshot, event);
    let context: Record<string, unknown> | undefined;
    try {
      context = this.contextAfter(plan, snapshot, event);
    } catch {
      context = undefined;
    }
    const sameNodes = expected._nodes.length === plan.nodes.size && expected._nodes.every((n) => plan.nodes.has(n));
    const agrees =
      context !== undefined &&
      expected.status === "active" &&
      sameNodes &&
      JSON.stringify(expected.context) === JSON.stringify(context) &&
      expected.children === snapshot.children &&
      JSON.stringify(expected.historyValue) === JSON.stringify(snapshot.historyValue) &&
      (!plan.unchanged || JSON.stringify(expected.value) === JSON.stringify(snapshot.value)) &&
      (plan.unchanged && plan.actions.length === 0 ? expected === snapshot : expected !== snapshot);
    plan.status = agrees ? "verified" : "full";
    if (!agrees && context !== undefined) this.counts.rejected++;
    if (agrees && !plan.unchanged)
      plan.template = { _nodes: expected._nodes, value: expected.value, tags: expected.tags };
    return expected;
  }
}
