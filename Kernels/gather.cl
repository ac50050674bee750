// gather.cl — rows of a table picked by an index tensor, so a batch is gathered on the device from a data set
// uploaded once:
//     gather_rows: out[i, j] = table[index[offset + i], j]   for i < count, j < columns
// Indices are whole numbers stored as float32 (exact below 2²⁴ rows); an index that is not a whole number in
// 0..<rows gives a row of NaN instead of a read outside the table. Work-items: one per output value, guarded.

__kernel void gather_rows(const int rows, const int columns, const int count, const int offset,
                          __global const float *table, __global const float *indices, __global float *out) {
    const int e = get_global_id(0);
    if (e >= count * columns) return;
    const int i = e / columns, j = e % columns;
    const float index = indices[offset + i];
    if (!(index >= 0.0f && index < (float)rows) || index != floor(index)) {
        out[e] = NAN;
        return;
    }
    out[e] = table[(size_t)(int)index * columns + j];
}
