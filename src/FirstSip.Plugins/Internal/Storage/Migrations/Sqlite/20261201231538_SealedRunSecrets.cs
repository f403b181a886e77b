using Microsoft.EntityFrameworkCore.Migrations;

#nullable disable

namespace FirstSip.Plugins.Internal.Storage.Migrations.Sqlite
{
    /// <inheritdoc />
    internal partial class SealedRunSecrets : Migration
    {
        /// <inheritdoc />
        protected override void Up(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.AddColumn<string>(
                name: "sealed_secrets",
                table: "plugin_runs",
                type: "TEXT",
                nullable: true);
        }

        /// <inheritdoc />
        protected override void Down(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.DropColumn(
                name: "sealed_secrets",
                table: "plugin_runs");
        }
    }
}
