using System;
using Microsoft.EntityFrameworkCore.Migrations;

#nullable disable

namespace FirstSip.Plugins.Internal.Storage.Migrations.Npgsql
{
    /// <inheritdoc />
    internal partial class QueueAwareLifecycle : Migration
    {
        /// <inheritdoc />
        protected override void Up(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.AddColumn<int>(
                name: "dispatch_failures",
                table: "plugin_runs",
                type: "integer",
                nullable: false,
                defaultValue: 0);

            migrationBuilder.AddColumn<DateTimeOffset>(
                name: "expires_at",
                table: "plugin_runs",
                type: "timestamp with time zone",
                nullable: true);

            migrationBuilder.AddColumn<DateTimeOffset>(
                name: "queue_deadline",
                table: "plugin_runs",
                type: "timestamp with time zone",
                nullable: true);

            migrationBuilder.AddColumn<int>(
                name: "queue_timeout_seconds",
                table: "plugin_runs",
                type: "integer",
                nullable: true);

            migrationBuilder.AddColumn<string>(
                name: "request_id",
                table: "plugin_runs",
                type: "character varying(64)",
                maxLength: 64,
                nullable: true);

            migrationBuilder.AddColumn<bool>(
                name: "stop_signal_pending",
                table: "plugin_runs",
                type: "boolean",
                nullable: false,
                defaultValue: false);

            migrationBuilder.CreateIndex(
                name: "ix_plugin_runs_status_dispatched_at",
                table: "plugin_runs",
                columns: new[] { "status", "dispatched_at" });

            migrationBuilder.CreateIndex(
                name: "ix_plugin_runs_status_expires_at",
                table: "plugin_runs",
                columns: new[] { "status", "expires_at" });

            migrationBuilder.CreateIndex(
                name: "ix_plugin_runs_status_queue_deadline",
                table: "plugin_runs",
                columns: new[] { "status", "queue_deadline" });

            migrationBuilder.CreateIndex(
                name: "ix_plugin_runs_stop_signal_pending",
                table: "plugin_runs",
                column: "stop_signal_pending");
        }

        /// <inheritdoc />
        protected override void Down(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.DropIndex(
                name: "ix_plugin_runs_status_dispatched_at",
                table: "plugin_runs");

            migrationBuilder.DropIndex(
                name: "ix_plugin_runs_status_expires_at",
                table: "plugin_runs");

            migrationBuilder.DropIndex(
                name: "ix_plugin_runs_status_queue_deadline",
                table: "plugin_runs");

            migrationBuilder.DropIndex(
                name: "ix_plugin_runs_stop_signal_pending",
                table: "plugin_runs");

            migrationBuilder.DropColumn(
                name: "dispatch_failures",
                table: "plugin_runs");

            migrationBuilder.DropColumn(
                name: "expires_at",
                table: "plugin_runs");

            migrationBuilder.DropColumn(
                name: "queue_deadline",
                table: "plugin_runs");

            migrationBuilder.DropColumn(
                name: "queue_timeout_seconds",
                table: "plugin_runs");

            migrationBuilder.DropColumn(
                name: "request_id",
                table: "plugin_runs");

            migrationBuilder.DropColumn(
                name: "stop_signal_pending",
                table: "plugin_runs");
        }
    }
}
