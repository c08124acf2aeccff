// Public surface of the policy service: the service, and the pure decisions for tools such as `policy check`.
export { startPolicyService } from "./service.js";
export type { PolicyService, PolicyServiceOptions } from "./service.js";
export type { BudgetTimings } from "./budget-watcher.js";
export {
  approvalRulesFor,
  authorize,
  authorizeSomewhere,
  factsOfSession,
  requiredCapability,
  selectorMatches,
  verbCapability,
} from "./decide.js";
export type { Decision, TargetFacts } from "./decide.js";
export { commandIdOf } from "./ledger.js";
export { attachCommand } from "./verbs.js";
