# syntax=docker/dockerfile:1
#
# The claw-supervisor image: one image for every service; `claw-supervisor service <name>` picks which.
#
#   docker build -t claw-supervisor:0.1.0 .
#   docker run --rm claw-supervisor:0.1.0 service --help
#
# Two stages: `build` installs every dependency and runs `npm run build` (tsc, the plugin layout, the dashboard
# page); `runtime` is Node slim with the built `dist/` and the production dependencies only, run as an unprivileged
# user (uid 10001) with the `claw-supervisor` bin as its entry point. See deploy/README.md.

ARG NODE_IMAGE=node:24-bookworm-slim

FROM ${NODE_IMAGE} AS build
WORKDIR /src
COPY package.json package-lock.json ./
# --ignore-scripts: `prepare` would build before the sources are here, and `postinstall` only sets up OpenClaw
# for the test suite. The build runs below, on its own.
RUN npm ci --ignore-scripts --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY schemas ./schemas
COPY machines ./machines
COPY services ./services
RUN npm run build
# What the runtime stage copies: the same lockfile, without devDependencies.
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund

FROM ${NODE_IMAGE} AS runtime
ENV NODE_ENV=production \
    CLAW_SUPERVISOR_STATE_DIR=/var/lib/claw-supervisor
RUN groupadd --system --gid 10001 claw \
 && useradd --system --uid 10001 --gid 10001 --home-dir /var/lib/claw-supervisor --shell /usr/sbin/nologin claw \
 && install -d -o 10001 -g 10001 -m 0700 /var/lib/claw-supervisor
WORKDIR /app
COPY --from=build /src/package.json ./package.json
COPY --from=build /src/node_modules ./node_modules
COPY --from=build /src/dist ./dist
RUN ln -s /app/dist/services/cli/main.js /usr/local/bin/claw-supervisor
USER 10001:10001
# The health endpoints (/healthz, /readyz, /metrics) when a service is given --health-port 9464.
EXPOSE 9464
ENTRYPOINT ["claw-supervisor"]
CMD ["service", "--help"]
