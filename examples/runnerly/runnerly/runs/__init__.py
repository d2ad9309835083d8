"""The runs service: the runs each runner records, and their weekly distance."""
