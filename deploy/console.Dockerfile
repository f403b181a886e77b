# The FirstSip console host (`worker` mode runs the app side: dispatcher, result and event consumers, reaper).
#   docker build -f deploy/console.Dockerfile -t firstsip-cli .
#   docker run --rm -e FIRSTSIP_REDIS=redis:6379 -e FIRSTSIP_DB="Host=...;..." firstsip-cli worker
FROM mcr.microsoft.com/dotnet/sdk:10.0 AS build
WORKDIR /src
COPY . .
RUN dotnet publish samples/FirstSip.Samples.Console -c Release -o /out

FROM mcr.microsoft.com/dotnet/runtime:10.0
WORKDIR /app
COPY --from=build /out .
COPY plugins ./plugins
ENV FIRSTSIP_PLUGINS=/app/plugins
USER app
ENTRYPOINT ["dotnet", "FirstSip.Samples.Console.dll"]
