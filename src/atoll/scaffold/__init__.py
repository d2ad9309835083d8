"""``atoll new``: the files of a new project, from the templates shipped with atoll."""
