using Microsoft.EntityFrameworkCore.Migrations;

#nullable disable

namespace FirstSip.Samples.Briefings.Migrations.Sqlite
{
    /// <inheritdoc />
    public partial class SealedRunSecrets : Migration
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
