# The FirstSip web host. Build from the repository root:
#   docker build -f deploy/web.Dockerfile -t firstsip-web .
FROM mcr.microsoft.com/dotnet/sdk:10.0 AS build
WORKDIR /src
COPY . .
RUN dotnet publish samples/FirstSip.Samples.Web -c Release -o /out

FROM mcr.microsoft.com/dotnet/aspnet:10.0
RUN apt-get update && apt-get install -y --no-install-recommends curl && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY --from=build /out .
COPY plugins ./plugins
ENV ASPNETCORE_HTTP_PORTS=8080 \
    FIRSTSIP_PLUGINS=/app/plugins \
    FirstSip__Dashboard__Enabled=false
EXPOSE 8080
USER app
HEALTHCHECK --interval=10s --timeout=5s CMD curl -fsS http://127.0.0.1:8080/health/live || exit 1
ENTRYPOINT ["dotnet", "FirstSip.Samples.Web.dll"]
