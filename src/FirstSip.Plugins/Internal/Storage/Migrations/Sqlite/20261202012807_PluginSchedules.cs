using System;
using Microsoft.EntityFrameworkCore.Migrations;

#nullable disable

namespace FirstSip.Plugins.Internal.Storage.Migrations.Sqlite
{
    /// <inheritdoc />
    internal partial class PluginSchedules : Migration
    {
        /// <inheritdoc />
        protected override void Up(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.CreateTable(
                name: "plugin_schedules",
                columns: table => new
                {
                    schedule_id = table.Column<Guid>(type: "TEXT", nullable: false),
                    user_id = table.Column<string>(type: "TEXT", maxLength: 200, nullable: false),
                    plugin_name = table.Column<string>(type: "TEXT", maxLength: 200, nullable: false),
                    settings = table.Column<string>(type: "TEXT", nullable: false),
                    cron_expression = table.Column<string>(type: "TEXT", maxLength: 200, nullable: false),
                    time_zone = table.Column<string>(type: "TEXT", maxLength: 100, nullable: false),
                    enabled = table.Column<bool>(type: "INTEGER", nullable: false),
                    paused_reason = table.Column<string>(type: "TEXT", maxLength: 2000, nullable: true),
                    misfire_policy = table.Column<string>(type: "TEXT", maxLength: 16, nullable: false),
                    max_misfire_runs = table.Column<int>(type: "INTEGER", nullable: false),
                    overlap_policy = table.Column<string>(type: "TEXT", maxLength: 16, nullable: false),
                    next_fire_at = table.Column<long>(type: "INTEGER", nullable: true),
                    last_fire_at = table.Column<long>(type: "INTEGER", nullable: true),
                    last_run_id = table.Column<Guid>(type: "TEXT", nullable: true),
                    created_at = table.Column<long>(type: "INTEGER", nullable: false),
                    updated_at = table.Column<long>(type: "INTEGER", nullable: false),
                    version = table.Column<long>(type: "INTEGER", nullable: false)
                },
                constraints: table =>
                {
                    table.PrimaryKey("PK_plugin_schedules", x => x.schedule_id);
                });

            migrationBuilder.CreateIndex(
                name: "ix_plugin_schedules_next_fire_at",
                table: "plugin_schedules",
                column: "next_fire_at");

            migrationBuilder.CreateIndex(
                name: "ix_plugin_schedules_plugin_name",
                table: "plugin_schedules",
                column: "plugin_name");

            migrationBuilder.CreateIndex(
                name: "ix_plugin_schedules_user_id_plugin_name",
                table: "plugin_schedules",
                columns: new[] { "user_id", "plugin_name" });
        }

        /// <inheritdoc />
        protected override void Down(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.DropTable(
                name: "plugin_schedules");
        }
    }
}
