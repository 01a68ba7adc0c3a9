"""Declarations of the management tools' actions (what each action calls and waits for); the flow
itself is :mod:`app.services.operations`."""
