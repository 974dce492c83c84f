"""`python -m pipeline` and the `docextract` command.

Kept light on purpose: multiprocessing's "spawn" runs the parent's main script again in every
render worker, and for the `docextract` command that script imports this module, so the CLI
(typer, rich) is imported only when a command runs, not in each worker.
"""


def main() -> None:
    from pipeline.cli.app import main as run_command

    run_command()


if __name__ == "__main__":
    main()
