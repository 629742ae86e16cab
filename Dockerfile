# flexd in a container: docker build -t flexd . && docker run -p 8080:8080 -v flexd-data:/data flexd
# The first start prints the generated admin password once (docker logs), or set FLEXD_ADMIN_PASSWORD.
# Not root inside: replicas run as the same user as flexd, so isolation between environments is
# the container's and Node's permission model's (docs/operating.md, Containers).

FROM node:20-bookworm AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY scripts ./scripts
COPY src ./src
RUN npm run build && npm prune --omit=dev

FROM node:20-bookworm-slim
ENV NODE_ENV=production \
    FLEXD_HOST=0.0.0.0 \
    FLEXD_PORT=8080 \
    FLEXD_DATA_DIR=/data
WORKDIR /app
COPY --from=build /app/package.json ./
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY bin ./bin
RUN mkdir /data && chown node:node /data
USER node
VOLUME /data
EXPOSE 8080
# flexd drains on SIGTERM (stopGraceMs, 10 s): give `docker stop` longer than that (docker stop -t 30)
STOPSIGNAL SIGTERM
CMD ["node", "bin/flexd.js", "serve"]
