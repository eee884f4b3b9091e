"""Reading the shared datasets, grouping photos by source, and writing the splits the trainers read."""
