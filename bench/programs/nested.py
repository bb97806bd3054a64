# Nested loops, 3000 × 3000, summing (a * b) % 7.
total = 0
a = 0
while a < 3000:
    b = 0
    while b < 3000:
        total += (a * b) % 7
        b += 1
    a += 1
print(total)
